// Embeddings from OpenAI or any OpenAI-compatible server (Ollama, vLLM, …) through the official SDK.
// The SDK already retries 408/409/429/5xx and timeouts, honouring retry-after(-ms), with backoff.
import OpenAI from "openai";
import { PermanentError, redact, TransientError } from "../lib/errors";
import { type BatchLimits, type Embedder, estimateTokens, mapLimited, OPENAI_LIMITS, packRequests } from "./embedder";
import { TokenRateLimiter } from "./rate-limiter";

export type OpenAIEmbedderOptions = {
  apiKey: string;
  baseURL?: string;
  model: string;
  dimensions: number;
  limits?: BatchLimits;
  /** Requests in flight at once. */
  concurrency?: number;
  maxRetries?: number;
  timeoutMs?: number;
  /** The account's tokens-per-minute limit, if known; otherwise learnt from the answers' headers. */
  tokensPerMinute?: number;
  /**
   * How vectors travel (config.ts `encodingFor` says why): "float" asks for JSON numbers, which every
   * compatible server sends; "base64" leaves the field to the SDK, which asks for base64 and decodes it.
   */
  encoding?: "float" | "base64";
};

/** Only the text-embedding-3 family accepts `dimensions`; other servers may reject it. */
const acceptsDimensions = (model: string) => /^text-embedding-3/.test(model);

export function openaiEmbedder(options: OpenAIEmbedderOptions): Embedder {
  const client = new OpenAI({
    apiKey: options.apiKey,
    baseURL: options.baseURL,
    maxRetries: options.maxRetries ?? 4,
    timeout: options.timeoutMs ?? 60_000,
  });
  const limits = options.limits ?? OPENAI_LIMITS;
  const encoding = options.encoding ?? "float";
  const limiter = new TokenRateLimiter(options.tokensPerMinute);

  async function request(input: string[]): Promise<number[][]> {
    let response;
    try {
      await limiter.acquire(input.reduce((sum, text) => sum + estimateTokens(text), 0));
      const answer = await client.embeddings.create({
        model: options.model,
        input,
        ...(acceptsDimensions(options.model) ? { dimensions: options.dimensions } : {}),
        ...(encoding === "float" ? { encoding_format: "float" as const } : {}),
      }).withResponse();
      limiter.observe(answer.response.headers);
      response = answer.data;
    } catch (error) {
      const classified = classify(error);
      // vLLM's refusal has no `error` field, so the SDK's message says only "400 status code".
      if (encoding === "base64" && error instanceof OpenAI.BadRequestError) {
        classified.message += " (a server that does not take base64 answers so: set EMBEDDING_ENCODING=float)";
      }
      classified.message = redact(classified.message, [options.apiKey]);
      throw classified;
    } finally {
      limiter.settled();
    }
    const vectors = [...response.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
    if (vectors.length !== input.length) {
      throw new TransientError(`embedding API returned ${vectors.length} vectors for ${input.length} inputs`);
    }
    const wrong = vectors.find((vector) => vector.length !== options.dimensions);
    if (wrong) {
      // Floats decoded as base64 come out a quarter as wide: the server ignored encoding_format.
      const hint = encoding === "base64" && wrong.length * 4 === options.dimensions
        ? " (the server answered floats to a base64 request: set EMBEDDING_ENCODING=float)" : "";
      throw new PermanentError(
        `model ${options.model} returned ${wrong.length} dimensions, EMBEDDING_DIMENSIONS is ${options.dimensions}${hint}`,
      );
    }
    return vectors;
  }

  return {
    model: options.model,
    dimensions: options.dimensions,
    async embed(texts) {
      const requests = packRequests(texts, limits);
      const parts = await mapLimited(requests, options.concurrency ?? 4, (r) => request(texts.slice(r.start, r.end)));
      return parts.flat();
    },
  };
}

/** Tells errors a retry can fix from those it cannot. */
function classify(error: unknown): Error {
  if (error instanceof OpenAI.APIConnectionError) return new TransientError(`embedding API unreachable: ${error.message}`);
  if (error instanceof OpenAI.APIError) {
    const status = error.status ?? 0;
    const message = `embedding API answered ${status || "an error"}: ${error.message}`;
    return status === 408 || status === 409 || status === 429 || status >= 500 || status === 0
      ? new TransientError(message)
      : new PermanentError(message);
  }
  return new TransientError(`embedding request failed: ${error instanceof Error ? error.message : String(error)}`);
}
