// Moves claimed queue rows to their next status: done, failed, or back in line (ARCHITECTURE.md §6). The
// moves into pending or failed are move.ts's single statements. An application transaction may lock the
// same rows in another order: these writes yield to it.
import { and, eq, inArray, sql } from "drizzle-orm";
import { embeddingQueue, type QueueSource } from "../../schema/pipeline-tables.js";
import { yieldingWrite } from "../db/conflicts.js";
import type { Database } from "../db/database.js";
import { MAX_ERROR_LENGTH } from "../lib/errors.js";
import { type Item, itemKey } from "../lib/item.js";
import { move } from "./move.js";

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

/**
 * Gives back claims that never reached the API (the budget refused them, functions/cost/budget.ts): the
 * rows go back in line at once with the attempt not counted, so a spent budget never fails an item.
 * `error`, when given, is recorded on them (BATCH_RETURNED: the live lanes', functions/queue/gate.ts).
 */
export async function unclaim(db: Database, ids: number[], error?: string) {
  if (ids.length === 0) return;
  await db
    .update(embeddingQueue)
    .set({ attempts: sql`greatest(0, ${embeddingQueue.attempts} - 1)` })
    .where(and(inArray(embeddingQueue.id, ids), eq(embeddingQueue.status, "processing")));
  await returnToPending(
    db,
    ids.map((id) => ({ id, delayMs: 0, ...(error ? { error } : {}) })),
  );
}

/** What processing made of claimed rows' items: those that failed, with why, and those it left for the live lanes. */
export type Outcome = { failed: (Item & { error: string })[]; deferred?: Item[] };

/**
 * Settles claimed rows by their items' outcome: failed ones recorded with their error, deferred ones
 * back in line at once (with `deferredError`; a row whose item has a newer pending row goes), the
 * others done. How many of each.
 */
export async function settleByOutcome(db: Database, rows: (Item & { id: number })[], outcome: Outcome, deferredError?: string) {
  const errors = new Map(outcome.failed.map((f) => [itemKey(f), f.error]));
  const deferredKeys = new Set((outcome.deferred ?? []).map(itemKey));
  const failed = rows.filter((row) => errors.has(itemKey(row)));
  const deferred = rows.filter((row) => deferredKeys.has(itemKey(row)));
  await settleFailed(
    db,
    failed.map((row) => ({ id: row.id, error: errors.get(itemKey(row))! })),
  );
  await returnToPending(
    db,
    deferred.map((row) => ({ id: row.id, delayMs: 0, ...(deferredError ? { error: deferredError } : {}) })),
  );
  const done = rows.filter((row) => !errors.has(itemKey(row)) && !deferredKeys.has(itemKey(row)));
  await settleDone(
    db,
    done.map((row) => row.id),
  );
  return { done: done.length, failed: failed.length, returned: deferred.length };
}
