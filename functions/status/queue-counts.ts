// Exact queue counts at any size (ARCHITECTURE.md §2, "queue_counts"): the sum of the deltas the
// statement triggers append in each writing transaction, so a reader's snapshot sees exactly the rows
// it would count, without reading them (a count(*) reads every row: 1,000,000 rows take hundreds of ms).
import { sql } from "drizzle-orm";
import { type Database, rowsOf } from "../db/database.js";

export type QueueCount = { status: string; priority: number; count: number };

/** Delta rows past which a reader folds them together (its own answer is already exact). */
const FOLD_ABOVE = 1_000;
/** The advisory lock that keeps two folds from doing the same work (a second fold would still be correct). */
const FOLD_LOCK = 0x7175_6575; // "queu"

/** Rows per status and priority, exact in the reader's snapshot; folds the deltas when they have piled up. */
export async function queueCounts(db: Database): Promise<QueueCount[]> {
  const rows = await rowsOf<QueueCount & { deltas: number }>(
    db.execute(sql`
    SELECT status, priority, sum(n)::int AS count, count(*)::int AS deltas FROM queue_counts GROUP BY status, priority ORDER BY status, priority`),
  );
  if (rows.reduce((n, r) => n + r.deltas, 0) > FOLD_ABOVE) await foldQueueCounts(db);
  return rows.filter((r) => r.count !== 0).map(({ status, priority, count }) => ({ status, priority, count }));
}

/**
 * Replaces the deltas with one row per status and priority, in one statement. Deltas appended meanwhile
 * are outside its snapshot and stay; a concurrent fold skips the rows this one deleted, so sums never
 * change. Called by readers (above), the alert check and maintenance; how many rows it removed.
 */
export async function foldQueueCounts(db: Database): Promise<number> {
  const [row] = await rowsOf<{ removed: number }>(
    db.execute(sql`
    WITH lock AS (SELECT pg_try_advisory_xact_lock(${FOLD_LOCK}) AS got),
    gone AS (DELETE FROM queue_counts WHERE (SELECT got FROM lock) RETURNING status, priority, n),
    kept AS (INSERT INTO queue_counts (status, priority, n)
      SELECT status, priority, sum(n) FROM gone GROUP BY status, priority HAVING sum(n) <> 0 RETURNING 1)
    SELECT (SELECT count(*) FROM gone)::int - (SELECT count(*) FROM kept)::int AS removed`),
  );
  return row?.removed ?? 0;
}
