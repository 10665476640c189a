// The HNSW index on embeddings: a first load drops it and builds it once at the end
// (scripts/lib/initial-load.ts); whatever stopped a load, npm start, backfill and maintenance build it
// again when it is missing, so search never stays on a sequential scan.
import { sql } from "drizzle-orm";
import { HNSW_INDEX } from "../../schema/pipeline-tables.js";
import { type Database, rowsOf } from "./database.js";
import { servingColumn } from "./vector-column.js";

/** Whether the index exists and is valid (a failed concurrent build leaves it invalid). */
export async function hnswIndexUsable(db: Database): Promise<boolean> {
  const [row] = await rowsOf<{ valid: boolean | null }>(
    db.execute(sql`SELECT (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(${HNSW_INDEX})) AS valid`),
  );
  return row?.valid === true;
}

/** Builds the index when it is missing or invalid; says whether it did. */
export async function restoreHnswIndex(db: Database): Promise<boolean> {
  if (await hnswIndexUsable(db)) return false;
  await dropHnswIndex(db);
  await buildHnswIndex(db);
  await db.execute(sql`ANALYZE embeddings`);
  return true;
}

export const dropHnswIndex = (db: Database) => db.execute(sql`DROP INDEX IF EXISTS ${sql.identifier(HNSW_INDEX)}`);

/** The graph's parameters, pgvector's defaults when not given (m 16, ef_construction 64): benchmarks try others. */
export type HnswParameters = { m?: number; efConstruction?: number };

/**
 * Builds the index schema/pipeline-tables.ts declares, with settings for this build only: those of
 * `indexBuildSettings`, or `maintenanceWorkMem` when given.
 */
export async function buildHnswIndex(db: Database, maintenanceWorkMem?: string, parameters: HnswParameters = {}) {
  await db.transaction(async (tx) => {
    const settings = await indexBuildSettings(tx);
    if (maintenanceWorkMem) settings.maintenance_work_mem = maintenanceWorkMem;
    for (const [name, value] of Object.entries(settings)) await tx.execute(sql`SELECT set_config(${name}, ${value}, true)`);
    // The operator class of the column's type: halfvec after a switch to it (functions/sets/).
    const opclass = sql.raw(`${(await servingColumn(tx)).storage}_cosine_ops`);
    const options = [
      ...(parameters.m === undefined ? [] : [`m = ${Math.trunc(parameters.m)}`]),
      ...(parameters.efConstruction === undefined ? [] : [`ef_construction = ${Math.trunc(parameters.efConstruction)}`]),
    ];
    const withOptions = options.length ? sql.raw(` WITH (${options.join(", ")})`) : sql``;
    await tx.execute(
      sql`CREATE INDEX IF NOT EXISTS ${sql.identifier(HNSW_INDEX)} ON embeddings USING hnsw (embedding ${opclass})${withOptions}`,
    );
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
