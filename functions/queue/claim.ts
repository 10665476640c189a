// Claims a batch of the database queue for one drain run (ARCHITECTURE.md §1, "Drain"): highest
// priority first, then oldest; only rows whose run_after has come; a lease (locked_until) so that a
// crashed run's claim expires and another run takes the rows. SKIP LOCKED lets runs overlap safely.
import { and, eq, lt, sql } from "drizzle-orm";
import { embeddingQueue } from "../../schema/pipeline-tables.js";
import type { Database } from "../db/database.js";
import { rowsOf } from "../db/database.js";
import { batchApiRows, type Gate, passesGate } from "./gate.js";
import { returnToPending } from "./settle.js";

export type Claimed = { id: number; contentType: string; contentId: string; attempts: number; priority: number };

/** Priorities to claim from, both ends included (a lane's, for its doorbell); every one when not given. */
export type PriorityRange = { min: number; max: number };

// The statement's start, not the transaction's (now()): a run letting its lane go counts, after waiting
// for the lane's lock, the rows an enqueue committed meanwhile, whose run_after is that enqueue's now(),
// later than the run's transaction start (functions/queue/lane-state.ts).
/** A pending row whose time has come. */
export const readyPending = sql`status = 'pending' AND run_after <= statement_timestamp()`;
/** A claimed row whose run stopped (its lease ran out): claimable again. */
const leaseRunOut = sql`status = 'processing' AND locked_until < statement_timestamp()`;
/** A claimed row whose run still holds it: the other processing rows. */
export const leaseRunning = sql`status = 'processing' AND locked_until >= statement_timestamp()`;

// The gate (gate.ts) keeps paused lanes and types and lanes past their budget share out of both.
const claimable = (range?: PriorityRange, gate?: Gate, forBatchApi = false) => sql`((${readyPending}) OR (${leaseRunOut}))
  ${range ? sql`AND priority BETWEEN ${range.min} AND ${range.max}` : sql``} AND ${passesGate(gate)}
  ${forBatchApi ? sql`AND ${batchApiRows}` : sql``}`;

/** `forBatchApi`: for a Batch API batch, which takes no row a batch gave back. */
export async function claimBatch(
  db: Database,
  size: number,
  leaseMs: number,
  range?: PriorityRange,
  gate?: Gate,
  forBatchApi = false,
): Promise<Claimed[]> {
  // The rows are picked once, in a materialized CTE. As `WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP
  // LOCKED)`, a plan may run the subquery again for each row of the outer scan (a nested-loop semi join),
  // and each run skips the rows this statement has just updated and locks n more: a claim of 50 took
  // 300 rows (CI on real PostgreSQL; Laurenz Albe, "How to do UPDATE ... LIMIT in PostgreSQL", CYBERTEC).
  return rowsOf<Claimed>(
    db.execute(sql`
    WITH picked AS MATERIALIZED (
      SELECT id FROM embedding_queue
      WHERE ${claimable(range, gate, forBatchApi)}
      ORDER BY priority, created_at
      LIMIT ${size}
      FOR UPDATE SKIP LOCKED)
    UPDATE embedding_queue q
    SET status = 'processing', locked_until = now() + ${leaseMs} * interval '1 millisecond',
        attempts = q.attempts + 1, updated_at = now()
    FROM picked WHERE q.id = picked.id
    RETURNING q.id::int AS "id", q.content_type AS "contentType", q.content_id AS "contentId", q.attempts AS "attempts", q.priority AS "priority"`),
  );
}

/** Items the drain (or a lane's doorbell) could take now; counted up to `atMost` when given (a bounded probe). */
export async function readyCount(db: Database, range?: PriorityRange, gate?: Gate, forBatchApi = false, atMost?: number): Promise<number> {
  const [row] = await rowsOf<{ n: number }>(
    db.execute(sql`
    SELECT count(*)::int AS n FROM (SELECT 1 FROM embedding_queue WHERE ${claimable(range, gate, forBatchApi)}
      ${atMost === undefined ? sql`` : sql`LIMIT ${atMost}`}) AS ready`),
  );
  return row?.n ?? 0;
}

/** Puts back in line the rows whose claim's lease ran out (the run that held them stopped); how many. */
export async function releaseExpiredClaims(db: Database): Promise<number> {
  const expired = await db
    .select({ id: embeddingQueue.id })
    .from(embeddingQueue)
    .where(and(eq(embeddingQueue.status, "processing"), lt(embeddingQueue.lockedUntil, sql`now()`)));
  await returnToPending(
    db,
    expired.map((row) => ({ id: row.id, delayMs: 0, error: "claim expired: the drain that held it stopped" })),
  );
  return expired.length;
}
