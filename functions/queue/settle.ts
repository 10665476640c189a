// Moves claimed queue rows to their next status. Two partial unique indexes keep one pending and one
// failed row per item. A row moving into either status is deleted and re-inserted in ONE statement,
// `INSERT … ON CONFLICT` on that index: a twin a trigger or another writer inserts meanwhile is merged
// with, never a 23505 (an UPDATE into the status would race it, and lose an attempt or a retry round).
// An application transaction may lock the same rows in another order: these writes yield to it.
import { and, eq, inArray, sql, type SQL } from "drizzle-orm";
import { embeddingQueue, type QueueSource } from "../../schema/pipeline-tables.js";
import { yieldingWrite } from "../db/conflicts.js";
import type { Database } from "../db/database.js";
import { rowsOf } from "../db/database.js";
import { MAX_ERROR_LENGTH } from "../lib/errors.js";

/** How many claims an item gets before it is recorded as failed. */
export const MAX_ATTEMPTS = 5;

/** Back-off before the next claim: 30 s, 1 min, 2 min, … at most an hour. */
export const backoffMs = (attempts: number) => Math.min(30_000 * 2 ** Math.max(0, attempts - 1), 3_600_000);

export async function settleDone(db: Database, ids: number[]) {
  if (ids.length === 0) return;
  await db
    .update(embeddingQueue)
    .set({ status: "done", lockedUntil: null, lastError: null, updatedAt: sql`now()` })
    .where(and(inArray(embeddingQueue.id, ids), eq(embeddingQueue.status, "processing")));
}

/** Records rows as failed with their error; an item's older failed record takes the newer error. */
export async function settleFailed(db: Database, failures: { id: number; error: string }[]) {
  if (failures.length === 0) return;
  const values = sql.join(
    failures.map((f) => sql`(${f.id}::bigint, ${f.error.slice(0, MAX_ERROR_LENGTH)}::text)`),
    sql`, `,
  );
  await yieldingWrite(db, (tx) =>
    tx.execute(
      move({
        rows: sql`DELETE FROM embedding_queue q USING (VALUES ${values}) v(id, error) WHERE q.id = v.id RETURNING q.*, v.error AS new_error`,
        status: "failed",
        runAfter: sql`now()`,
        lastError: sql`new_error`,
        onConflict: sql`DO UPDATE SET last_error = excluded.last_error, attempts = excluded.attempts, op = excluded.op,
      retry_rounds = GREATEST(embedding_queue.retry_rounds, excluded.retry_rounds), updated_at = now()`,
      }),
    ),
  );
}

/**
 * Puts rows back in line after `delayMs` (each its own delay), unless the item has a pending row
 * already (a change written meanwhile, or a newer row in `rows`): that one covers it, this one goes.
 */
export async function returnToPending(db: Database, rows: { id: number; delayMs: number; error?: string }[], source?: QueueSource) {
  if (rows.length === 0) return;
  const values = sql.join(
    rows.map((r) => sql`(${r.id}::bigint, ${r.delayMs}::int, ${r.error?.slice(0, MAX_ERROR_LENGTH) ?? null}::text)`),
    sql`, `,
  );
  await yieldingWrite(db, (tx) =>
    tx.execute(
      move({
        rows: sql`DELETE FROM embedding_queue q USING (VALUES ${values}) v(id, delay, error) WHERE q.id = v.id
      RETURNING q.*, v.delay AS delay_ms, v.error AS new_error`,
        status: "pending",
        runAfter: sql`now() + delay_ms * interval '1 millisecond'`,
        lastError: sql`coalesce(new_error, last_error)`,
        source,
        onConflict: sql`DO NOTHING`,
      }),
    ),
  );
}

/** Gives failed items another round (at most `maxRounds` in all) with fresh attempts; how many. */
export async function retryFailedRows(db: Database, maxRounds: number): Promise<number> {
  const [row] = await yieldingWrite(db, (tx) =>
    rowsOf<{ n: number }>(
      tx.execute(sql`WITH ${sql.raw(MOVED)} AS (
      DELETE FROM embedding_queue WHERE status = 'failed' AND retry_rounds < ${maxRounds} RETURNING *),
    inserted AS (${moveInsert({
      status: "pending",
      runAfter: sql`now()`,
      lastError: sql`last_error`,
      source: "retry",
      attempts: sql`0`,
      retryRounds: sql`retry_rounds + 1`,
      onConflict: sql`DO NOTHING`,
    })})
    SELECT count(*)::int AS n FROM ${sql.raw(MOVED)}`),
    ),
  );
  return row?.n ?? 0;
}

const MOVED = "moved";

type Target = {
  status: "pending" | "failed";
  runAfter: SQL;
  lastError: SQL;
  onConflict: SQL;
  source?: QueueSource;
  attempts?: SQL;
  retryRounds?: SQL;
};

/** `WITH moved AS (<rows: a DELETE … RETURNING>) <insert them in their new status>`. */
function move(target: Target & { rows: SQL }): SQL {
  return sql`WITH ${sql.raw(MOVED)} AS (${target.rows}) ${moveInsert(target)}`;
}

/**
 * Re-inserts the deleted rows, same ids, in their new status; one per item (the newest), so that an
 * `ON CONFLICT DO UPDATE` never meets the same item twice in one statement.
 */
function moveInsert(t: Target): SQL {
  return sql`INSERT INTO embedding_queue
      (id, content_type, content_id, op, priority, status, attempts, retry_rounds, last_error, run_after, locked_until, source, created_at, updated_at)
    SELECT DISTINCT ON (content_type, content_id) id, content_type, content_id, op, priority, ${t.status}::text,
      ${t.attempts ?? sql`attempts`}, ${t.retryRounds ?? sql`retry_rounds`}, ${t.lastError}, ${t.runAfter}, NULL,
      coalesce(${t.source ?? null}::text, source), created_at, now()
    FROM ${sql.raw(MOVED)} ORDER BY content_type, content_id, id DESC
    ON CONFLICT (content_type, content_id) WHERE status = ${sql.raw(`'${t.status}'`)} ${t.onConflict}`;
}
