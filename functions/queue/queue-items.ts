// Writes items to embedding_queue through queue_for_embedding, the same SQL function the triggers
// use, so coalescing (one pending row per item) lives in one place.
import { sql } from "drizzle-orm";
import { type QueueOp, type QueueSource, SHADOW_TABLE } from "../../schema/pipeline-tables.js";
import { BACKGROUND_PRIORITY } from "../../schema/registry.js";
import { yieldingWrite } from "../db/conflicts.js";
import { type Database, rowsOf } from "../db/database.js";
import type { Embedder } from "../embedders/embedder.js";
import { compareItems, type Item, itemKey, uniqueItems } from "../lib/item.js";

export type QueuedItem = Item & { priority: number; op: QueueOp };

/** Queues items now, or, with `delayMs`, as a safety net the drain takes only if nothing settles them first. */
export async function queueItems(db: Database, items: QueuedItem[], source: QueueSource, delayMs = 0): Promise<void> {
  await queueItemsThen(db, items, source, async () => undefined, delayMs);
}

/**
 * Queues items and, in the same transaction, runs `then` (enqueue claims the lanes to ring there: the
 * rows and the claim commit together, ARCHITECTURE.md §5).
 */
export async function queueItemsThen<T>(
  db: Database,
  items: QueuedItem[],
  source: QueueSource,
  then: (tx: Database) => Promise<T>,
  delayMs = 0,
): Promise<T> {
  if (items.length === 0) return then(db);
  // Sorted and once each: concurrent calls lock the pending rows in one order, so they never deadlock.
  // An item given twice keeps its last op and its highest priority, as queue_for_embedding's coalescing
  // would have made of the two calls.
  const highest = new Map<string, number>();
  for (const i of items) highest.set(itemKey(i), Math.min(i.priority, highest.get(itemKey(i)) ?? i.priority));
  const sorted = uniqueItems(items)
    .map((i) => ({ ...i, priority: highest.get(itemKey(i))! }))
    .sort(compareItems);
  const values = sql.join(
    sorted.map((i) => sql`(${i.contentType}::text, ${i.contentId}::text, ${i.priority}::int, ${i.op}::text)`),
    sql`, `,
  );
  return yieldingWrite(db, async (tx) => {
    await tx.execute(sql`SELECT queue_for_embedding(v.content_type, v.content_id, v.priority, v.op, ${source}::text, ${delayMs}::int)
    FROM (VALUES ${values}) AS v(content_type, content_id, priority, op)`);
    return then(tx);
  });
}

/**
 * Queues the items whose chunks were embedded with another model or size, behind live traffic:
 * re-embedding happens without a drop. Maintenance and start-up call it. Returns how many it queued.
 */
export async function queueOtherModels(db: Database, embedder: Pick<Embedder, "model" | "dimensions">): Promise<number> {
  // In item order, as every writer of queue rows takes them, yielding to the application's writes.
  const [row] = await yieldingWrite(db, (tx) =>
    rowsOf<{ n: number }>(
      tx.execute(sql`WITH stale AS (
      SELECT DISTINCT content_type, content_id FROM embeddings WHERE model <> ${embedder.model} OR dimensions <> ${embedder.dimensions}
      ORDER BY content_type, content_id)
    SELECT count(queue_for_embedding(s.content_type, s.content_id, ${BACKGROUND_PRIORITY}, 'upsert', 'backfill'))::int AS n FROM stale s`),
    ),
  );
  return row?.n ?? 0;
}

/**
 * Queues, at backfill priority, every item of the serving set the shadow set (functions/sets/) lacks or
 * holds with other text. Returns how many.
 */
export async function queueShadowMissing(db: Database): Promise<number> {
  const [row] = await yieldingWrite(db, (tx) =>
    rowsOf<{ n: number }>(
      tx.execute(sql`WITH missing AS (
      SELECT DISTINCT e.content_type, e.content_id FROM embeddings e
      WHERE NOT EXISTS (SELECT 1 FROM ${sql.identifier(SHADOW_TABLE)} s
        WHERE s.content_type = e.content_type AND s.content_id = e.content_id AND s.chunk_index = e.chunk_index AND s.chunk_text = e.chunk_text)
      ORDER BY e.content_type, e.content_id)
    SELECT count(queue_for_embedding(m.content_type, m.content_id, ${BACKGROUND_PRIORITY}, 'upsert', 'backfill'))::int AS n FROM missing m`),
    ),
  );
  return row?.n ?? 0;
}
