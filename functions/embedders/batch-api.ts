// OpenAI's Batch API for embeddings (ARCHITECTURE.md §14 "Batch API"): half the live price, answers
// within 24 hours. The shapes, as OpenAI documents them (https://platform.openai.com/docs/guides/batch,
// https://platform.openai.com/docs/api-reference/batch) and the openai SDK types them
// (openai-node src/resources/batches.ts, files.ts):
// - POST /v1/files, multipart, purpose "batch": a JSONL file, one request a line,
//   {custom_id, method: "POST", url: "/v1/embeddings", body: {model, input, dimensions?, encoding_format?}},
//   at most 50,000 lines; custom_id unique in the file.
// - POST /v1/batches {input_file_id, endpoint: "/v1/embeddings", completion_window: "24h"} → Batch.
// - GET /v1/batches/{id} → Batch: status validating | in_progress | finalizing | completed | failed |
//   expired | cancelling | cancelled; output_file_id, error_file_id, request_counts {total, completed, failed}.
// - GET /v1/files/{id}/content → the output (or error) file, JSONL, in no particular order:
//   {id, custom_id, response: {status_code, request_id, body: <the endpoint's answer>} | null, error: {code, message} | null}.
import OpenAI, { toFile } from "openai";
import { decodeFloat32Base64 } from "../lib/base64.js";
import { redact } from "../lib/errors.js";
import { classify, embeddingsBody } from "./openai.js";

/** OpenAI's limit of requests (lines) in one batch. */
export const MAX_BATCH_INPUTS = 50_000;

export type BatchStatus = OpenAI.Batches.Batch["status"];

/** OpenAI's statuses after which a batch changes no more (an expired or cancelled one may have partial output). */
export const FINAL_STATUSES: readonly BatchStatus[] = ["completed", "failed", "expired", "cancelled"];

export type BatchInfo = {
  id: string;
  status: BatchStatus;
  outputFileId?: string;
  errorFileId?: string;
  counts?: { total: number; completed: number; failed: number };
  /** Why a batch failed validation (its `errors`), names and codes only. */
  errors?: string;
};

/** One answered line: its vector (float32s, compact until used) and the tokens it was billed. */
export type BatchAnswer = { vector: Float32Array; tokens: number };

/** A batch's output and error files read: answers by custom_id, and the custom_ids that failed, with why. */
export type BatchResults = { answers: Map<string, BatchAnswer>; failed: Map<string, string> };

export type BatchApi = {
  /** Uploads the requests as a JSONL file and creates the batch. */
  submit(
    requests: { customId: string; text: string }[],
    model: { model: string; dimensions: number },
  ): Promise<{ batchId: string; inputFileId: string }>;
  retrieve(batchId: string): Promise<BatchInfo>;
  /** Reads a finished batch's output and error files. */
  results(info: BatchInfo): Promise<BatchResults>;
};

export type BatchApiOptions = { apiKey: string; baseURL?: string; encoding?: "float" | "base64"; timeoutMs?: number };

/** The JSONL of the requests: one embeddings request a line. */
export function requestLines(
  requests: { customId: string; text: string }[],
  model: { model: string; dimensions: number },
  encoding: "float" | "base64" = "float",
): string {
  return requests
    .map((r) =>
      JSON.stringify({ custom_id: r.customId, method: "POST", url: "/v1/embeddings", body: embeddingsBody(model, r.text, encoding) }),
    )
    .join("\n")
    .concat("\n");
}

type OutputLine = {
  custom_id?: string;
  response?: {
    status_code?: number;
    body?: { data?: { embedding?: unknown; index?: number }[]; usage?: { prompt_tokens?: number }; error?: { message?: string } };
  } | null;
  error?: { code?: string; message?: string } | null;
};

/** Adds one output or error file line to `results`; a line of neither shape counts as failed. */
export function readLine(line: string, results: BatchResults): void {
  if (!line.trim()) return;
  const parsed = JSON.parse(line) as OutputLine;
  const id = parsed.custom_id;
  if (!id) return;
  const status = parsed.response?.status_code;
  const embedding = parsed.response?.body?.data?.[0]?.embedding;
  if (status === 200 && embedding !== undefined) {
    const numbers = typeof embedding === "string" ? decodeFloat32Base64(embedding) : (embedding as number[]);
    results.answers.set(id, { vector: Float32Array.from(numbers), tokens: parsed.response?.body?.usage?.prompt_tokens ?? 0 });
    return;
  }
  // The error's code and status only: a message may quote the input (the row's text).
  const why = parsed.error?.code ?? (status ? `status ${status}` : "no answer");
  results.failed.set(id, why);
}

export function openaiBatchApi(options: BatchApiOptions): BatchApi {
  const client = new OpenAI({ apiKey: options.apiKey, baseURL: options.baseURL, maxRetries: 2, timeout: options.timeoutMs ?? 50_000 });
  const classified = (error: unknown) => {
    const e = classify(error);
    e.message = redact(e.message.replace("embedding API", "Batch API"), [options.apiKey]);
    return e;
  };
  const call = async <T>(run: () => Promise<T>) => {
    try {
      return await run();
    } catch (error) {
      throw classified(error);
    }
  };

  async function readFile(fileId: string, results: BatchResults) {
    const response = await call(() => client.files.content(fileId));
    if (!response.body) return readText(await response.text(), results);
    // Line by line as it arrives: the file can be large, its parsed vectors much smaller.
    const decoder = new TextDecoder();
    let rest = "";
    for await (const part of response.body as unknown as AsyncIterable<Uint8Array>) {
      const lines = (rest + decoder.decode(part, { stream: true })).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) readLine(line, results);
    }
    readLine(rest + decoder.decode(), results);
  }
  const readText = (text: string, results: BatchResults) => {
    for (const line of text.split("\n")) readLine(line, results);
  };

  return {
    async submit(requests, model) {
      if (requests.length > MAX_BATCH_INPUTS) throw new Error(`a batch holds at most ${MAX_BATCH_INPUTS} requests`);
      const jsonl = requestLines(requests, model, options.encoding);
      const file = await call(async () =>
        client.files.create({ file: await toFile(new TextEncoder().encode(jsonl), "embeddings.jsonl"), purpose: "batch" }),
      );
      const batch = await call(() =>
        client.batches.create({ input_file_id: file.id, endpoint: "/v1/embeddings", completion_window: "24h" }),
      );
      return { batchId: batch.id, inputFileId: file.id };
    },
    async retrieve(batchId) {
      const batch = await call(() => client.batches.retrieve(batchId));
      return {
        id: batch.id,
        status: batch.status,
        outputFileId: batch.output_file_id ?? undefined,
        errorFileId: batch.error_file_id ?? undefined,
        counts: batch.request_counts,
        errors: batch.errors?.data?.map((e) => e.code ?? "error").join(", ") || undefined,
      };
    },
    async results(info) {
      const results: BatchResults = { answers: new Map(), failed: new Map() };
      if (info.outputFileId) await readFile(info.outputFileId, results);
      if (info.errorFileId) await readFile(info.errorFileId, results);
      return results;
    },
  };
}
