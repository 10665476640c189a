// An OpenAI-compatible embeddings server for the benchmarks whose answers cost it next to nothing
// (dense vectors, as a real model's):
// every vector is computed, and encoded both ways (JSON numbers and base64 float32), in a warm-up
// before the timed part (the "warm" message, texts over IPC). A request then only waits its latency
// and joins strings, as the real API's work is done on machines of its own. A text not warmed is
// computed on the spot and counted as a miss. Counts requests as testing/fake-openai.ts does.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { estimateTokens } from "../functions/embedders/embedder";
import { embedLocally } from "../functions/embedders/local";
import { seededRandom } from "../testing/random";

const latencyMs = Number(process.argv[2] ?? 50);
const dimensions = Number(process.argv[3] ?? 1536);
const cache = new Map<string, { json: string; base64: string; tokens: number }>();
const requests: { inputs: number; tokens: number; at: number; misses: number }[] = [];

/**
 * Dense, as a real model's vectors are (every value non-zero, about 21 KB of text a vector at float32's
 * digits): `embedLocally`'s sparse vector with seeded noise in every dimension, normalised. A sparse
 * vector prints as mostly "0", which made COPY of its text look several times cheaper than a real one's.
 */
function denseVector(text: string) {
  const vector = embedLocally(text, dimensions);
  const random = seededRandom([...text].reduce((hash, ch) => Math.imul(hash ^ ch.charCodeAt(0), 0x01000193), 0x811c9dc5) >>> 0);
  const noisy = vector.map((value) => value + (random() - 0.5) / 40);
  const norm = Math.hypot(...noisy);
  return noisy.map((value) => Math.fround(value / norm));
}

const entry = (text: string) => {
  const vector = denseVector(text);
  const cached = {
    json: JSON.stringify(vector),
    base64: JSON.stringify(Buffer.from(new Float32Array(vector).buffer).toString("base64")),
    tokens: estimateTokens(text),
  };
  cache.set(text, cached);
  return cached;
};

const server = createServer(async (req, res) => {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  const body = JSON.parse(Buffer.concat(parts).toString("utf8")) as { input: string | string[]; model: string; encoding_format?: string };
  await new Promise((r) => setTimeout(r, latencyMs));
  const inputs = Array.isArray(body.input) ? body.input : [body.input];
  let tokens = 0;
  let misses = 0;
  const base64 = body.encoding_format === "base64";
  const data = inputs.map((text, index) => {
    let cached = cache.get(text);
    if (!cached) {
      misses++;
      cached = entry(text);
    }
    tokens += cached.tokens;
    return `{"object":"embedding","index":${index},"embedding":${base64 ? cached.base64 : cached.json}}`;
  });
  requests.push({ inputs: inputs.length, tokens, at: Date.now(), misses });
  res.writeHead(200, { "content-type": "application/json" });
  res.end(
    `{"object":"list","data":[${data.join(",")}],"model":${JSON.stringify(body.model)},"usage":{"prompt_tokens":${tokens},"total_tokens":${tokens}}}`,
  );
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
process.send!({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` });
process.on("message", (message: { command: string; texts?: string[] }) => {
  if (message.command === "warm") {
    for (const text of message.texts ?? []) if (!cache.has(text)) entry(text);
    process.send!(cache.size);
  }
  if (message.command === "requests") process.send!(requests);
  if (message.command === "reset") {
    requests.length = 0;
    process.send!(0);
  }
});
process.on("disconnect", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
