// The Batch API of the fake OpenAI server (testing/fake-openai.ts), following OpenAI's endpoints and
// answer shapes (https://platform.openai.com/docs/api-reference/batch, /files; the openai SDK's types in
// openai-node src/resources/batches.ts, files.ts):
//   POST /v1/files (multipart: purpose, file)            → File {id, object: "file", bytes, filename, purpose, …}
//   GET  /v1/files/{id}, GET /v1/files/{id}/content      → the File; its bytes
//   POST /v1/batches {input_file_id, endpoint, completion_window: "24h"} → Batch (status "validating")
//   GET  /v1/batches/{id}, POST /v1/batches/{id}/cancel  → Batch
// A batch moves on when the test says (`finish`), or by itself on each retrieve (`autoFinish`): its lines
// are embedded as /v1/embeddings embeds them, answers go to the output file and failed lines to the error
// file, JSONL, each {id, custom_id, response: {status_code, request_id, body}, error}.
import type { IncomingMessage, ServerResponse } from "node:http";
import { estimateTokens } from "../functions/embedders/embedder";

type FileRecord = { id: string; bytes: Buffer; filename: string; purpose: string; createdAt: number };
export type BatchOutcome = "completed" | "failed" | "expired" | "cancelled";

export type FakeBatch = {
  id: string;
  inputFileId: string;
  status: "validating" | "in_progress" | "finalizing" | "completed" | "failed" | "expired" | "cancelling" | "cancelled";
  outputFileId: string | null;
  errorFileId: string | null;
  counts: { total: number; completed: number; failed: number };
  errors: { code: string; message: string; line?: number }[] | null;
  createdAt: number;
  retrieved: number;
};

export type FakeBatchApi = {
  files: Map<string, FileRecord>;
  batches: Map<string, FakeBatch>;
  /** How batches end: "completed" (every line answered, unless `failLine`), or expired / cancelled with half answered, or failed. */
  outcome: BatchOutcome;
  /** Lines answered with an error (400) rather than a vector: a partial output. */
  failLine?: (customId: string) => boolean;
  /** Batches finish on their second retrieve (validating → in_progress → the outcome). */
  autoFinish: boolean;
  /** Tokens billed for answered batch lines (the live requests are FakeOpenAI.requests). */
  tokens: number;
  /** Lines answered with a vector. */
  answered: number;
  /** Finishes every batch not yet finished, with `outcome` (this.outcome unless given). */
  finish(outcome?: BatchOutcome): void;
};

type Embed = (text: string, dimensions: number) => number[];

export function fakeBatchApi(
  embed: Embed,
  defaultDimensions: number,
): FakeBatchApi & { handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> } {
  let next = 0;
  const id = (prefix: string) => `${prefix}-${(++next).toString(36).padStart(6, "0")}`;
  const seconds = () => Math.floor(Date.now() / 1000);
  const addFile = (bytes: Buffer, filename: string, purpose: string) => {
    const file = { id: id("file"), bytes, filename, purpose, createdAt: seconds() };
    api.files.set(file.id, file);
    return file;
  };
  const fileJson = (f: FileRecord) => ({
    id: f.id,
    object: "file",
    bytes: f.bytes.length,
    created_at: f.createdAt,
    filename: f.filename,
    purpose: f.purpose,
    status: "processed",
  });
  const batchJson = (b: FakeBatch) => ({
    id: b.id,
    object: "batch",
    endpoint: "/v1/embeddings",
    errors: b.errors ? { object: "list", data: b.errors.map((e) => ({ ...e, param: null, line: e.line ?? null })) } : null,
    input_file_id: b.inputFileId,
    completion_window: "24h",
    status: b.status,
    output_file_id: b.outputFileId,
    error_file_id: b.errorFileId,
    created_at: b.createdAt,
    in_progress_at: b.status === "validating" ? null : b.createdAt,
    expires_at: b.createdAt + 86_400,
    completed_at: b.status === "completed" ? seconds() : null,
    failed_at: b.status === "failed" ? seconds() : null,
    expired_at: b.status === "expired" ? seconds() : null,
    cancelled_at: b.status === "cancelled" ? seconds() : null,
    request_counts: b.counts,
    metadata: null,
  });

  function run(batch: FakeBatch, outcome: BatchOutcome) {
    const input = api.files.get(batch.inputFileId)!.bytes.toString("utf8");
    const lines = input.split("\n").filter((l) => l.trim());
    batch.counts.total = lines.length;
    const problem = validate(lines);
    if (outcome === "failed" || problem) {
      batch.status = "failed";
      batch.errors = [problem ?? { code: "server_error", message: "The batch failed." }];
      return;
    }
    const output: string[] = [];
    const errors: string[] = [];
    // Expired or cancelled: the first half was done before the window closed.
    const done = outcome === "completed" ? lines.length : Math.floor(lines.length / 2);
    lines.forEach((line, n) => {
      const request = JSON.parse(line) as {
        custom_id: string;
        body: { model: string; input: string | string[]; dimensions?: number; encoding_format?: string };
      };
      const lineId = id("batch_req");
      if (n >= done) {
        const code = outcome === "expired" ? "batch_expired" : "batch_cancelled";
        const message =
          outcome === "expired"
            ? "This request could not be executed before the completion window expired."
            : "This request was cancelled.";
        errors.push(JSON.stringify({ id: lineId, custom_id: request.custom_id, response: null, error: { code, message } }));
        return;
      }
      if (api.failLine?.(request.custom_id)) {
        const body = { error: { message: "Invalid input", type: "invalid_request_error", param: null, code: null } };
        errors.push(
          JSON.stringify({
            id: lineId,
            custom_id: request.custom_id,
            response: { status_code: 400, request_id: lineId, body },
            error: null,
          }),
        );
        return;
      }
      const inputs = Array.isArray(request.body.input) ? request.body.input : [request.body.input];
      const tokens = inputs.reduce((sum, text) => sum + estimateTokens(text), 0);
      const data = inputs.map((text, index) => {
        const vector = embed(text, request.body.dimensions ?? defaultDimensions);
        const embedding =
          request.body.encoding_format === "base64" ? Buffer.from(new Float32Array(vector).buffer).toString("base64") : vector;
        return { object: "embedding", index, embedding };
      });
      api.tokens += tokens;
      api.answered++;
      const body = { object: "list", data, model: request.body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
      output.push(
        JSON.stringify({ id: lineId, custom_id: request.custom_id, response: { status_code: 200, request_id: lineId, body }, error: null }),
      );
    });
    batch.counts.completed = output.length;
    batch.counts.failed = errors.length;
    if (output.length) batch.outputFileId = addFile(Buffer.from(`${output.join("\n")}\n`), `${batch.id}_output.jsonl`, "batch_output").id;
    if (errors.length) batch.errorFileId = addFile(Buffer.from(`${errors.join("\n")}\n`), `${batch.id}_error.jsonl`, "batch_output").id;
    batch.status = outcome;
  }

  /** OpenAI's checks of an input file: at most 50,000 lines, each POST to the batch's endpoint, custom_ids unique. */
  function validate(lines: string[]) {
    if (lines.length > 50_000) return { code: "too_many_requests", message: "The batch input file has more than 50,000 requests." };
    const seen = new Set<string>();
    for (const [n, line] of lines.entries()) {
      const r = JSON.parse(line) as { custom_id?: string; method?: string; url?: string };
      if (!r.custom_id || seen.has(r.custom_id)) return { code: "duplicate_custom_id", message: "custom_id must be unique", line: n + 1 };
      if (r.method !== "POST" || r.url !== "/v1/embeddings")
        return { code: "invalid_url", message: "url must be /v1/embeddings", line: n + 1 };
      seen.add(r.custom_id);
    }
    return undefined;
  }

  const api = {
    files: new Map<string, FileRecord>(),
    batches: new Map<string, FakeBatch>(),
    outcome: "completed" as BatchOutcome,
    autoFinish: false,
    tokens: 0,
    answered: 0,
    failLine: undefined as FakeBatchApi["failLine"],
    finish(outcome?: BatchOutcome) {
      for (const batch of api.batches.values()) {
        if (batch.status === "cancelling") run(batch, "cancelled");
        else if (["validating", "in_progress", "finalizing"].includes(batch.status)) run(batch, outcome ?? api.outcome);
      }
    },
    async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
      const path = new URL(req.url ?? "/", "http://fake").pathname.replace(/^\/v1/, "");
      if (!path.startsWith("/files") && !path.startsWith("/batches")) return false;
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      const notFound = () => send(404, { error: { message: "No such object", type: "invalid_request_error" } });
      if (req.headers.authorization !== "Bearer test-openai-key") {
        send(401, { error: { message: "Incorrect API key provided", type: "invalid_request_error" } });
        return true;
      }
      const parts: Buffer[] = [];
      for await (const part of req) parts.push(part as Buffer);
      const raw = Buffer.concat(parts);
      let match: RegExpExecArray | null;
      if (req.method === "POST" && path === "/files") {
        const form = await new Request("http://fake/", {
          method: "POST",
          headers: req.headers as Record<string, string>,
          body: raw,
        }).formData();
        const file = form.get("file");
        const purpose = form.get("purpose");
        if (!(file instanceof Blob) || typeof purpose !== "string") {
          send(400, { error: { message: "'file' and 'purpose' are required", type: "invalid_request_error" } });
        } else {
          send(200, fileJson(addFile(Buffer.from(await file.arrayBuffer()), (file as File).name ?? "upload", purpose)));
        }
      } else if (req.method === "GET" && (match = /^\/files\/([^/]+)\/content$/.exec(path))) {
        const file = api.files.get(match[1]!);
        if (!file) notFound();
        else {
          res.writeHead(200, { "content-type": "application/octet-stream" });
          res.end(file.bytes);
        }
      } else if (req.method === "GET" && (match = /^\/files\/([^/]+)$/.exec(path))) {
        const file = api.files.get(match[1]!);
        if (!file) notFound();
        else send(200, fileJson(file));
      } else if (req.method === "POST" && path === "/batches") {
        const body = JSON.parse(raw.toString("utf8")) as { input_file_id?: string; endpoint?: string; completion_window?: string };
        const file = body.input_file_id ? api.files.get(body.input_file_id) : undefined;
        if (file?.purpose !== "batch" || body.endpoint !== "/v1/embeddings" || body.completion_window !== "24h") {
          send(400, {
            error: {
              message: "input_file_id must be a file of purpose batch; endpoint /v1/embeddings; completion_window 24h",
              type: "invalid_request_error",
            },
          });
        } else {
          const batch: FakeBatch = {
            id: id("batch"),
            inputFileId: file.id,
            status: "validating",
            outputFileId: null,
            errorFileId: null,
            counts: { total: 0, completed: 0, failed: 0 },
            errors: null,
            createdAt: seconds(),
            retrieved: 0,
          };
          api.batches.set(batch.id, batch);
          send(200, batchJson(batch));
        }
      } else if (req.method === "GET" && (match = /^\/batches\/([^/]+)$/.exec(path))) {
        const batch = api.batches.get(match[1]!);
        if (!batch) notFound();
        else {
          batch.retrieved++;
          if (batch.status === "validating") batch.status = "in_progress";
          else if (api.autoFinish && batch.retrieved >= 2) api.finish();
          send(200, batchJson(batch));
        }
      } else if (req.method === "POST" && (match = /^\/batches\/([^/]+)\/cancel$/.exec(path))) {
        const batch = api.batches.get(match[1]!);
        if (!batch) notFound();
        else {
          if (["validating", "in_progress", "finalizing"].includes(batch.status)) batch.status = "cancelling";
          send(200, batchJson(batch));
        }
      } else notFound();
      return true;
    },
  };
  return api;
}
