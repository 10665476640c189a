// A local OpenAI-compatible embeddings server for tests and benchmarks: counts what it is asked,
// answers floats or base64 (little-endian float32) as asked, and fails on demand. `encoding` makes it
// behave as some compatible servers do: "ignores" answers floats whatever is asked (Ollama, as in
// BerriAI/litellm #42426); "refuses-base64" answers 400 to base64 (vLLM before PR #5935, #6174).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { estimateTokens } from "../functions/embedders/embedder";
import { embedLocally } from "../functions/embedders/local";
import { type OpenAIEmbedderOptions, openaiEmbedder } from "../functions/embedders/openai";
import { type FakeBatchApi, fakeBatchApi } from "./fake-openai-batch";

/** The official client's embedder pointed at a fake server, with the key it accepts. */
export const fakeServerEmbedder = (server: { url: string }, options: Partial<OpenAIEmbedderOptions> = {}) =>
  openaiEmbedder({
    apiKey: "test-openai-key",
    baseURL: server.url,
    model: "text-embedding-3-small",
    dimensions: 1536,
    maxRetries: 1,
    ...options,
  });

/** `echoInput`: the message quotes the first input, as some compatible servers' refusals do. */
export type Fault = { status: number; headers?: Record<string, string>; echoInput?: boolean };

export type FakeOpenAI = {
  url: string;
  requests: { inputs: number; tokens: number; dimensions?: number; model: string; encodingFormat?: string; at: number }[];
  /** Enforce a tokens-per-minute limit as OpenAI does: a refilling bucket, 429 with retry-after-ms. */
  tokensPerMinute?: number;
  /** Requests answered 429 by that limit. */
  rateLimited: number;
  /** Faults answered, in order, before requests succeed again. */
  faults: Fault[];
  /** Answers every request with this fault while set. */
  alwaysFail?: Fault;
  /** Called for each request: a fault to answer with, or nothing to answer normally. */
  chaos?: () => Fault | undefined;
  latencyMs: number;
  /** A vector to answer for a text instead of the real one (a broken model's NaN, overflow or zeros). */
  vectorFor?: (text: string) => number[] | undefined;
  /** Called with each answered request's input count: tests advance a fake clock by the time it "took". */
  onAnswer?: (inputs: number) => void;
  /** Requests that have arrived, answered or not. */
  received: number;
  /** Its Batch API (/v1/files, /v1/batches: testing/fake-openai-batch.ts). */
  batch: FakeBatchApi;
  close(): Promise<void>;
};

const readBody = async (req: IncomingMessage) => {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts).toString("utf8");
};

export type EncodingSupport = "honours" | "ignores" | "refuses-base64";

export async function startFakeOpenAI(
  options: { latencyMs?: number; dimensions?: number; encoding?: EncodingSupport } = {},
): Promise<FakeOpenAI> {
  const state = { requests: [], faults: [], latencyMs: options.latencyMs ?? 0, received: 0, rateLimited: 0 } as unknown as FakeOpenAI;
  const bucket = { available: NaN, at: Date.now() };
  const batch = fakeBatchApi((text, dimensions) => state.vectorFor?.(text) ?? embedLocally(text, dimensions), options.dimensions ?? 1536);
  state.batch = batch;
  const server: Server = createServer(async (req, res) => {
    if (await batch.handle(req, res)) return;
    state.received++;
    const body = JSON.parse(await readBody(req)) as {
      input: string | string[];
      model: string;
      dimensions?: number;
      encoding_format?: string;
    };
    if (state.latencyMs && !(await answeredAfter(state.latencyMs, res))) return;
    const fault = state.alwaysFail ?? state.faults.shift() ?? state.chaos?.();
    if (fault) {
      res.writeHead(fault.status, { "content-type": "application/json", ...fault.headers });
      const first = Array.isArray(body.input) ? body.input[0] : body.input;
      const message = fault.echoInput ? `Invalid input: "${first}" was refused` : `fake failure ${fault.status}`;
      res.end(JSON.stringify({ error: { message, type: "server_error" } }));
      return;
    }
    if (req.headers.authorization !== "Bearer test-openai-key") {
      res.writeHead(401, { "content-type": "application/json" });
      // Echoes the key it was given, so tests prove that we never pass such a message on unredacted.
      res.end(
        JSON.stringify({
          error: { message: `Incorrect API key provided: ${req.headers.authorization?.slice(7)}`, type: "invalid_request_error" },
        }),
      );
      return;
    }
    if (options.encoding === "refuses-base64" && body.encoding_format === "base64") {
      // vLLM's answer, as quoted in vllm-project/vllm #6174.
      res.writeHead(400, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          object: "error",
          message: "base64 encoding is not currently supported",
          type: "BadRequestError",
          param: null,
          code: 400,
        }),
      );
      return;
    }
    const inputs = Array.isArray(body.input) ? body.input : [body.input];
    const tokens = inputs.reduce((sum, text) => sum + estimateTokens(text), 0);
    const limitHeaders: Record<string, string> = {};
    if (state.tokensPerMinute) {
      const limit = state.tokensPerMinute;
      const now = Date.now();
      bucket.available = Math.min(
        limit,
        (Number.isNaN(bucket.available) ? limit : bucket.available) + ((now - bucket.at) * limit) / 60_000,
      );
      bucket.at = now;
      if (bucket.available < Math.min(tokens, limit)) {
        state.rateLimited++;
        const waitMs = Math.ceil(((Math.min(tokens, limit) - bucket.available) * 60_000) / limit);
        res.writeHead(429, {
          "content-type": "application/json",
          "retry-after-ms": String(waitMs),
          "x-ratelimit-limit-tokens": String(limit),
          "x-ratelimit-remaining-tokens": String(Math.floor(bucket.available)),
        });
        res.end(JSON.stringify({ error: { message: "Rate limit reached for tokens per min", type: "tokens" } }));
        return;
      }
      bucket.available -= tokens;
      Object.assign(limitHeaders, {
        "x-ratelimit-limit-tokens": String(limit),
        "x-ratelimit-remaining-tokens": String(Math.max(0, Math.floor(bucket.available))),
      });
    }
    state.requests.push({
      inputs: inputs.length,
      tokens,
      dimensions: body.dimensions,
      model: body.model,
      encodingFormat: body.encoding_format,
      at: Date.now(),
    });
    const dimensions = body.dimensions ?? options.dimensions ?? 1536;
    const data = inputs.map((text, index) => {
      const vector = state.vectorFor?.(text) ?? embedLocally(text, dimensions);
      const embedding =
        body.encoding_format === "base64" && options.encoding !== "ignores"
          ? Buffer.from(new Float32Array(vector).buffer).toString("base64")
          : vector;
      return { object: "embedding", index, embedding };
    });
    state.onAnswer?.(inputs.length);
    res.writeHead(200, { "content-type": "application/json", ...limitHeaders });
    res.end(JSON.stringify({ object: "list", data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  state.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

/** Waits `ms`, or until the client hangs up (false): a held answer never outlives the request it holds. */
function answeredAfter(ms: number, res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(true), ms);
    res.once("close", () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}
