// Memory of a drain as the backlog grows tenfold: batches, not the backlog, in memory. The drain runs
// in a process of its own with the database across the wire, as a serverless function does; the
// database (BENCH_DATABASE_URL's server, or an embedded PGlite served on a port, whose Wasm memory grows
// with the table) and the embeddings API stay outside it.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { communityPost, embeddings } from "../schema";
import { servePglite } from "../scripts/lib/pg-server";
import { startFakeOpenAI } from "../testing/fake-openai";
import { openBenchDatabase } from "./bench-database";
import { realisticText, seededRandom } from "./corpus";

export type DrainMemory = {
  items: number;
  runs: number;
  rssBeforeMb: number;
  peakRssMb: number;
  peakHeapGrowthMb: number;
  retainedFirstRunMb: number;
  retainedLastRunMb: number;
  retainedMaxMb: number;
  stored?: number;
};

const worker = fileURLToPath(new URL("./drain-memory-worker.ts", import.meta.url));

export async function drainMemory(n: number, batchSize = 500): Promise<DrainMemory> {
  const connection = await openBenchDatabase();
  const api = await startFakeOpenAI({ latencyMs: 50 });
  const server = connection.pglite ? await servePglite(connection.pglite, 25432) : undefined;
  const random = seededRandom(n + 2);
  try {
    for (let i = 0; i < n; i += 1000) {
      await connection.db
        .insert(communityPost)
        .values(Array.from({ length: Math.min(1000, n - i) }, () => ({ title: "Memory", body: realisticText(random) })));
    }
    const { stdout } = await promisify(execFile)(process.execPath, ["--expose-gc", "--import", "tsx", worker], {
      env: { ...process.env, DATABASE_URL: server?.url ?? connection.url, OPENAI_BASE_URL: api.url, DRAIN_BATCH_SIZE: String(batchSize) },
      maxBuffer: 1 << 20,
    });
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as DrainMemory;
    // A drain that failed its items would be cheap: count what it stored.
    const stored = await connection.db.$count(embeddings);
    if (stored < n)
      throw new Error(
        `the drain stored ${stored} embeddings for ${n} rows: ${JSON.stringify(await connection.query("select status, last_error, count(*) from embedding_queue group by 1,2"))}`,
      );
    return { ...result, stored };
  } finally {
    await server?.stop();
    await api.close();
    await connection.close();
  }
}
