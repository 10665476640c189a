// The drain as a function runs it: its own process, the database across the wire (DATABASE_URL),
// the OpenAI client against OPENAI_BASE_URL. Prints its memory figures as one JSON line.
// Run with --expose-gc so that "retained" is measured after a full collection.
import { drizzle } from "drizzle-orm/node-postgres";
import { loadConfig } from "../functions/config";
import type { Database } from "../functions/db/database";
import { drain } from "../functions/drain";
import { openaiEmbedder } from "../functions/embedders/openai";
import * as schema from "../schema";
import { createRegistry } from "../schema/registry";
import { nodePostgresPool } from "../scripts/lib/database";

const gc = () => (globalThis as { gc?: () => void }).gc?.();
// One connection: pglite-socket gives every client the same backend session.
const pool = nodePostgresPool({ connectionString: process.env.DATABASE_URL, max: 1 });
const config = loadConfig({ DRAIN_BATCH_SIZE: process.env.DRAIN_BATCH_SIZE ?? "500" });
// One batch per run: a clock on which each batch's embedding spends the whole budget.
let now = 0;
const clock = { now: () => now, sleep: async () => undefined };
const openai = openaiEmbedder({
  apiKey: "test-openai-key",
  baseURL: process.env.OPENAI_BASE_URL!,
  model: "text-embedding-3-small",
  dimensions: 1536,
});
const deps = {
  db: drizzle({ client: pool, schema }) as unknown as Database,
  registry: createRegistry(),
  config,
  clock,
  embedder: { ...openai, embed: (texts: string[]) => openai.embed(texts).finally(() => (now += 3_600_000)) },
};

gc();
const base = process.memoryUsage();
let peakRss = base.rss;
let peakHeap = base.heapUsed;
const sample = () => {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
};
const sampler = setInterval(sample, 5);
const retainedAfterRun: number[] = [];
let items = 0;
// One batch per run, so the heap left behind by each batch can be read after a collection.
for (;;) {
  const summary = await drain(deps, { budgetMs: 60_000 });
  items += summary.claimed;
  gc();
  retainedAfterRun.push(process.memoryUsage().heapUsed - base.heapUsed);
  if (summary.remaining === 0) break;
}
clearInterval(sampler);
sample();
await pool.end();
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
console.log(
  JSON.stringify({
    items,
    runs: retainedAfterRun.length,
    rssBeforeMb: mb(base.rss),
    peakRssMb: mb(peakRss),
    peakHeapGrowthMb: mb(peakHeap - base.heapUsed),
    retainedFirstRunMb: mb(retainedAfterRun[0]!),
    retainedLastRunMb: mb(retainedAfterRun.at(-1)!),
    retainedMaxMb: mb(Math.max(...retainedAfterRun)),
  }),
);
