// Drain throughput against the limit (plain bulk INSERT of the same vectors into the same table),
// API efficiency per 1,000 items, and a 5%-edited second pass. PGlite with the HNSW index in place;
// then the same backlog as a first load (no index while loading, built after).
import { sql } from "drizzle-orm";
import { drain } from "../functions/drain";
import { loadConfig } from "../functions/config";
import type { Deps } from "../functions/deps";
import { OPENAI_LIMITS } from "../functions/embedders/embedder";
import { openaiEmbedder } from "../functions/embedders/openai";
import { communityPost, embeddings } from "../schema";
import { createRegistry } from "../schema/registry";
import { backfill } from "../scripts/lib/backfill";
import { openPglite } from "../scripts/lib/database";
import { drainBacklog } from "../scripts/lib/initial-load";
import { startFakeOpenAI } from "../tests/support/fake-openai";
import { realisticText, seededRandom } from "./corpus";

export async function drainThroughput(n: number, latencyMs = 50) {
  const connection = await openPglite();
  await connection.migrate();
  const api = await startFakeOpenAI({ latencyMs });
  const random = seededRandom(n);
  const { db } = connection;
  try {
    for (let i = 0; i < n; i += 1000) {
      await db.insert(communityPost).values(Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ title: `Post ${i + j}`, body: realisticText(random) })));
    }
    const deps: Deps = {
      db, registry: createRegistry(), config: loadConfig({ DRAIN_BATCH_SIZE: "1000" }),
      embedder: openaiEmbedder({ apiKey: "test-openai-key", baseURL: api.url, model: "text-embedding-3-small", dimensions: 1536 }),
    };
    const started = performance.now();
    let runs = 0;
    while ((await drain(deps, { budgetMs: 600_000 })).remaining > 0) runs++;
    const pipelineSeconds = (performance.now() - started) / 1000;
    const firstPass = summarize(api.requests, n);

    // The limit: the same vectors, bulk inserted by plain SQL into the same (indexed) table.
    const rows = await db.select().from(embeddings);
    await db.execute(sql`TRUNCATE embeddings`);
    const limitStarted = performance.now();
    for (let i = 0; i < rows.length; i += 500) {
      await db.insert(embeddings).values(rows.slice(i, i + 500).map(({ id: _, ...row }) => row));
    }
    const limitSeconds = (performance.now() - limitStarted) / 1000;

    // A first load as `npm run backfill -- --drain` does it: the same backlog into an empty table,
    // without the HNSW index, which is built at the end.
    await db.execute(sql`TRUNCATE embeddings`);
    await backfill(db, deps.registry.byType("post")!);
    const loadStarted = performance.now();
    const load = await drainBacklog(deps, { maintenanceWorkMem: "512MB" });
    const loadSeconds = (performance.now() - loadStarted) / 1000;

    // Second pass: 5% of rows edited; tokens should go to those rows only.
    api.requests.length = 0;
    const edited = Math.round(n * 0.05);
    await db.execute(sql`UPDATE community_post SET body = body || ' Edited.' WHERE id IN (SELECT id FROM community_post ORDER BY id LIMIT ${edited})`);
    while ((await drain(deps, { budgetMs: 600_000 })).remaining > 0);
    const editedChunks = await db.$count(embeddings, sql`chunk_text LIKE '% Edited.'`);
    const second = summarize(api.requests, edited);
    return {
      n, items: rows.length,
      pipelineItemsPerSecond: n / pipelineSeconds, limitItemsPerSecond: rows.length / limitSeconds,
      ratio: (n / pipelineSeconds) / (rows.length / limitSeconds),
      initialLoad: { itemsPerSecond: load.done / loadSeconds, indexSeconds: load.indexSeconds, speedUp: (load.done / loadSeconds) / (n / pipelineSeconds) },
      firstPass, secondPass: { ...second, editedRows: edited, editedChunks }, chainedRuns: runs,
    };
  } finally {
    await api.close();
    await connection.close();
  }
}

function summarize(requests: { inputs: number; tokens: number }[], items: number) {
  const inputs = requests.reduce((s, r) => s + r.inputs, 0);
  const tokens = requests.reduce((s, r) => s + r.tokens, 0);
  const minimum = Math.max(Math.ceil(inputs / OPENAI_LIMITS.maxInputs), Math.ceil(tokens / OPENAI_LIMITS.maxTokens));
  return { requests: requests.length, minimumRequests: minimum, inputs, tokens, per1000: { requests: (requests.length * 1000) / items, inputs: (inputs * 1000) / items, tokens: (tokens * 1000) / items } };
}
