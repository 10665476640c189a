// Drains the queued backlog in this process. Into an empty embeddings table (a first backfill) it
// loads without the HNSW index and builds the index once at the end: growing the graph row by row is
// the slow part of a large load (BENCHMARKS.md: ~7× on PGlite), and pgvector advises the same on any
// Postgres. Search still answers meanwhile, by a sequential scan over what is loaded so far. Two
// drain runs work at once, as two scheduled runs may (each claims its own batches, SKIP LOCKED): while
// one waits for the embedding API, the other writes, so neither the API nor the database sits idle.
import { sql } from "drizzle-orm";
import { buildHnswIndex, dropHnswIndex, hnswIndexUsable } from "../../functions/db/hnsw-index";
import { servingColumn } from "../../functions/db/vector-column";
import type { Deps } from "../../functions/deps";
import { type DrainSummary, drain } from "../../functions/drain";
import { errorMessage } from "../../functions/lib/errors";
import { readyCount } from "../../functions/queue/index";
import { embeddings } from "../../schema/pipeline-tables";
import type { CopySession } from "./copy-writer";
import { refuseUnaskedSwitch } from "./model-switch";

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
  await refuseUnaskedSwitch(db, deps.config, deps.embedder);
  // An earlier load that was stopped (SIGKILL, a crash) may have left the index dropped: this one
  // loads on without it and builds it at the end, as a first load does.
  const rebuiltIndex = (await db.$count(embeddings)) === 0 || !(await hnswIndexUsable(db));
  if (rebuiltIndex) await dropHnswIndex(db);
  const result: InitialLoad = { done: 0, failed: 0, remaining: 0, rebuiltIndex, indexSeconds: 0 };
  const { drain: settings } = deps.config;
  const config = { ...deps.config, drain: { ...settings, batchSize: overlapBatchSize(await readyCount(db), settings.batchSize) } };
  // The binary COPY writes pgvector's `vector` format: a halfvec column (after a switch to it) takes the upsert.
  const copySession = (await servingColumn(db)).storage === "vector" ? options.copySession : undefined;
  try {
    // Settled, not all: the index is built only once both runs have stopped writing.
    const runs = await Promise.allSettled(
      Array.from({ length: CONCURRENT_RUNS }, async () => {
        // No connection to spare (a server's limit, say): this run writes by the upsert instead.
        const session = await copySession?.().catch((error) => {
          console.warn(`[backfill] no connection of its own for COPY (${errorMessage(error)}); writing by the upsert`);
          return undefined;
        });
        // With no index to insert into, a batch's write is short: it goes whole (BENCHMARKS.md §12, the drain's first load).
        const writer = session && (rebuiltIndex ? { ...session.writer, groupSize: Number.POSITIVE_INFINITY } : session.writer);
        const runDeps = { ...deps, config, writer };
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
