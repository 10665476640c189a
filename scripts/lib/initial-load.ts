// Drains the queued backlog in this process. Into an empty embeddings table (a first backfill) it
// loads without the HNSW index and builds the index once at the end: growing the graph row by row is
// the slow part of a large load (BENCHMARKS.md: ~7× on PGlite), and pgvector advises the same on any
// Postgres. Search still answers meanwhile, by a sequential scan over what is loaded so far. Two
// drain runs work at once, as two scheduled runs may (each claims its own batches, SKIP LOCKED): while
// one waits for the embedding API, the other writes, so neither the API nor the database sits idle.
import { sql } from "drizzle-orm";
import type { Database } from "../../functions/db/database";
import type { Deps } from "../../functions/deps";
import { drain, type DrainSummary } from "../../functions/drain";
import { rowsOf } from "../../functions/db/database";
import { errorMessage } from "../../functions/lib/errors";
import { readyCount } from "../../functions/queue/index";
import { embeddings, HNSW_INDEX } from "../../schema/pipeline-tables";
import type { CopySession } from "./copy-writer";

export type InitialLoad = { done: number; failed: number; remaining: number; rebuiltIndex: boolean; indexSeconds: number };

/** Drain runs at once: one embedding while the other writes. */
const CONCURRENT_RUNS = 2;
/** No batch smaller than this for the sake of overlap: a batch's fixed cost (claim, transaction, settle) would outweigh it. */
const MIN_OVERLAP_BATCH = 100;

/**
 * The batch size for a backlog of `ready` items: DRAIN_BATCH_SIZE, but small enough that each run has
 * two batches or more, so that a backlog of one batch's size is not embedded, then written, by one run
 * while the other waits (at 1,000 items: 1,000 rows/s in one batch of 1,000).
 */
export const overlapBatchSize = (ready: number, batchSize: number) =>
  Math.min(batchSize, Math.max(MIN_OVERLAP_BATCH, Math.ceil(ready / (2 * CONCURRENT_RUNS))));

export type InitialLoadOptions = {
  /** A connection of its own for each run, written to by binary COPY (copy-writer.ts); the upsert when absent (PGlite). */
  copySession?: () => Promise<CopySession>;
  /** For the index build, e.g. "512MB", instead of what `indexBuildSettings` reads from the server. */
  maintenanceWorkMem?: string;
  onProgress?: (summary: DrainSummary, done: number) => void;
};

export async function drainBacklog(deps: Deps, options: InitialLoadOptions = {}): Promise<InitialLoad> {
  const { db } = deps;
  const rebuiltIndex = (await db.$count(embeddings)) === 0;
  if (rebuiltIndex) await dropHnswIndex(db);
  const result: InitialLoad = { done: 0, failed: 0, remaining: 0, rebuiltIndex, indexSeconds: 0 };
  const { drain: settings } = deps.config;
  const config = { ...deps.config, drain: { ...settings, batchSize: overlapBatchSize(await readyCount(db), settings.batchSize) } };
  try {
    // Settled, not all: the index is built only once both runs have stopped writing.
    const runs = await Promise.allSettled(
      Array.from({ length: CONCURRENT_RUNS }, async () => {
        // No connection to spare (a server's limit, say): this run writes by the upsert instead.
        const session = await options.copySession?.().catch((error) => {
          console.warn(`[backfill] no connection of its own for COPY (${errorMessage(error)}); writing by the upsert`);
          return undefined;
        });
        const runDeps = { ...deps, config, writer: session?.writer };
        try {
          for (;;) {
            const summary = await drain(runDeps, { budgetMs: 60_000 });
            result.done += summary.done;
            result.failed += summary.failed;
            result.remaining = summary.remaining;
            options.onProgress?.(summary, result.done);
            // A transient error (the API down, say) leaves the rest to the scheduled drain.
            if (summary.remaining === 0 || summary.stoppedBy === "transient-error") break;
          }
        } finally {
          session?.release();
        }
      }),
    );
    const failed = runs.find((run) => run.status === "rejected");
    if (failed) throw failed.reason;
  } finally {
    if (rebuiltIndex) {
      const started = performance.now();
      await buildHnswIndex(db, options.maintenanceWorkMem);
      await db.execute(sql`ANALYZE embeddings`);
      result.indexSeconds = (performance.now() - started) / 1000;
    }
  }
  return result;
}

export const dropHnswIndex = (db: Database) => db.execute(sql`DROP INDEX IF EXISTS ${sql.identifier(HNSW_INDEX)}`);

/**
 * Builds the index schema/pipeline-tables.ts declares, with settings for this build only: those of
 * `indexBuildSettings`, or `maintenanceWorkMem` when given.
 */
export async function buildHnswIndex(db: Database, maintenanceWorkMem?: string) {
  await db.transaction(async (tx) => {
    const settings = await indexBuildSettings(tx);
    if (maintenanceWorkMem) settings.maintenance_work_mem = maintenanceWorkMem;
    for (const [name, value] of Object.entries(settings)) await tx.execute(sql`SELECT set_config(${name}, ${value}, true)`);
    await tx.execute(sql`CREATE INDEX IF NOT EXISTS ${sql.identifier(HNSW_INDEX)} ON embeddings USING hnsw (embedding vector_cosine_ops)`);
  });
}

/** Bytes of pgvector's in-memory HNSW graph per element, besides its vector: neighbour lists (m 16), header. */
const GRAPH_BYTES_PER_ELEMENT = 1024;
/** Left of maintenance_work_mem for what is not the graph. */
const BUILD_OVERHEAD_BYTES = 64 << 20;

/**
 * Settings for an index build, from what the server allows, never fixed sizes:
 * - `maintenance_work_mem` large enough for the whole graph (pgvector builds fast while the graph
 *   fits; past it, it goes on inserting into the on-disk graph, several times slower), never below
 *   the server's own setting and at most a quarter of `effective_cache_size` (the memory the server
 *   is told it has);
 * - parallel workers as `max_parallel_workers` allows, at most one per CPU the server says it
 *   plans for, and taken however small the heap: the vectors live out of line (TOAST), so the heap
 *   size from which Postgres sizes the workers tells little of the build's work.
 */
export async function indexBuildSettings(db: Database): Promise<Record<string, string>> {
  const [row] = await rowsOf<{ rows: number; dims: number; current: number; cache: number; workers: number }>(
    db.execute(sql`SELECT
      (SELECT count(*) FROM embeddings)::float8 AS rows,
      coalesce((SELECT vector_dims(embedding) FROM embeddings LIMIT 1), 0) AS dims,
      pg_size_bytes(current_setting('maintenance_work_mem'))::float8 AS current,
      pg_size_bytes(current_setting('effective_cache_size'))::float8 AS cache,
      current_setting('max_parallel_maintenance_workers')::int AS workers`),
  );
  const { rows, dims, current, cache, workers } = row!;
  const needed = rows * (4 * dims + 8 + GRAPH_BYTES_PER_ELEMENT) + BUILD_OVERHEAD_BYTES;
  const memory = Math.max(current, Math.min(needed, cache / 4));
  return {
    maintenance_work_mem: `${Math.ceil(memory / 1024 / 1024)}MB`,
    max_parallel_maintenance_workers: String(workers),
    min_parallel_table_scan_size: "0",
  };
}
