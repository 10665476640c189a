// Drains the queued backlog in this process. Into an empty embeddings table (a first backfill) it
// loads without the HNSW index and builds the index once at the end: growing the graph row by row is
// the slow part of a large load (BENCHMARKS.md: ~7× on PGlite), and pgvector advises the same on any
// Postgres. Search still answers meanwhile, by a sequential scan over what is loaded so far.
import { sql } from "drizzle-orm";
import type { Database } from "../../functions/db/database";
import type { Deps } from "../../functions/deps";
import { drain, type DrainSummary } from "../../functions/drain";
import { embeddings, HNSW_INDEX } from "../../schema/pipeline-tables";

export type InitialLoad = { done: number; failed: number; remaining: number; rebuiltIndex: boolean; indexSeconds: number };

export type InitialLoadOptions = {
  /** For the index build, e.g. "512MB": the graph builds far faster while it fits (≈ 6.5 KB a vector
   * at 1536 dimensions). Left to the database's setting when unset; raise it as far as memory allows. */
  maintenanceWorkMem?: string;
  onProgress?: (summary: DrainSummary, done: number) => void;
};

export async function drainBacklog(deps: Deps, options: InitialLoadOptions = {}): Promise<InitialLoad> {
  const { db } = deps;
  const rebuiltIndex = (await db.$count(embeddings)) === 0;
  if (rebuiltIndex) await dropHnswIndex(db);
  const result: InitialLoad = { done: 0, failed: 0, remaining: 0, rebuiltIndex, indexSeconds: 0 };
  try {
    for (;;) {
      const summary = await drain(deps, { budgetMs: 60_000 });
      result.done += summary.done;
      result.failed += summary.failed;
      result.remaining = summary.remaining;
      options.onProgress?.(summary, result.done);
      // A transient error (the API down, say) leaves the rest to the scheduled drain.
      if (summary.remaining === 0 || summary.stoppedBy === "transient-error") break;
    }
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

/** Builds the index schema/pipeline-tables.ts declares, with `maintenanceWorkMem` for this build only. */
export async function buildHnswIndex(db: Database, maintenanceWorkMem?: string) {
  await db.transaction(async (tx) => {
    if (maintenanceWorkMem) await tx.execute(sql`SELECT set_config('maintenance_work_mem', ${maintenanceWorkMem}, true)`);
    await tx.execute(sql`CREATE INDEX IF NOT EXISTS ${sql.identifier(HNSW_INDEX)} ON embeddings USING hnsw (embedding vector_cosine_ops)`);
  });
}
