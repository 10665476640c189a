// Moves claimed queue rows to their next status. Two partial unique indexes keep one pending and one
// failed row per item, so a row moving into either status first gives way to, or replaces, its twin.
import { and, eq, inArray, sql } from "drizzle-orm";
import { embeddingQueue, type QueueSource } from "../../schema/pipeline-tables";
import type { Database } from "../db/database";

/** How many claims an item gets before it is recorded as failed. */
export const MAX_ATTEMPTS = 5;

/** Back-off before the next claim: 30 s, 1 min, 2 min, … at most an hour. */
export const backoffMs = (attempts: number) => Math.min(30_000 * 2 ** Math.max(0, attempts - 1), 3_600_000);

export async function settleDone(db: Database, ids: number[]) {
  if (ids.length === 0) return;
  await db.update(embeddingQueue).set({ status: "done", lockedUntil: null, lastError: null, updatedAt: sql`now()` })
    .where(and(inArray(embeddingQueue.id, ids), eq(embeddingQueue.status, "processing")));
}

/** Records rows as failed with their error, replacing an older failed record of the same item. */
export async function settleFailed(db: Database, failures: { id: number; error: string }[]) {
  if (failures.length === 0) return;
  const values = sql.join(failures.map((f) => sql`(${f.id}::bigint, ${f.error.slice(0, 2000)}::text)`), sql`, `);
  await db.transaction(async (tx) => {
    await tx.execute(sql`DELETE FROM embedding_queue old USING embedding_queue q
      WHERE q.id IN (SELECT v.id FROM (VALUES ${values}) v(id, error))
        AND (old.status = 'failed' OR (old.id IN (SELECT v.id FROM (VALUES ${values}) v(id, error)) AND old.id < q.id))
        AND old.content_type = q.content_type AND old.content_id = q.content_id AND old.id <> q.id`);
    await tx.execute(sql`UPDATE embedding_queue q SET status = 'failed', last_error = v.error, locked_until = NULL, updated_at = now()
      FROM (VALUES ${values}) v(id, error) WHERE q.id = v.id`);
  });
}

/**
 * Puts rows back in line after `delayMs` (each its own delay), unless a newer pending row for the
 * same item exists (or comes later in `rows`): that one already covers it, so this one is dropped.
 */
export async function returnToPending(db: Database, rows: { id: number; delayMs: number; error?: string }[], source?: QueueSource) {
  if (rows.length === 0) return;
  const values = sql.join(rows.map((r) => sql`(${r.id}::bigint, ${r.delayMs}::int, ${r.error ?? null}::text)`), sql`, `);
  await db.transaction(async (tx) => {
    await tx.execute(sql`DELETE FROM embedding_queue q USING embedding_queue p
      WHERE q.id IN (SELECT v.id FROM (VALUES ${values}) v(id, delay, error))
        AND (p.status = 'pending' OR (p.id IN (SELECT v.id FROM (VALUES ${values}) v(id, delay, error)) AND p.id > q.id))
        AND p.content_type = q.content_type AND p.content_id = q.content_id AND p.id <> q.id`);
    await tx.execute(sql`UPDATE embedding_queue q SET status = 'pending', locked_until = NULL, updated_at = now(),
        run_after = now() + v.delay * interval '1 millisecond', last_error = coalesce(v.error, q.last_error),
        source = coalesce(${source ?? null}::text, q.source)
      FROM (VALUES ${values}) v(id, delay, error) WHERE q.id = v.id`);
  });
}
