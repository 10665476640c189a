// Writes items to embedding_queue through queue_for_embedding, the same SQL function the triggers
// use, so coalescing (one pending row per item) lives in one place.
import { and, eq, inArray, lte, sql } from "drizzle-orm";
import { embeddingQueue, type QueueOp, type QueueSource } from "../../schema/pipeline-tables";
import type { Database } from "../db/database";
import { groupBy, type Item } from "../core/item";

export type QueuedItem = Item & { priority: number; op: QueueOp };

export async function queueItems(db: Database, items: QueuedItem[], source: QueueSource): Promise<void> {
  if (items.length === 0) return;
  const values = sql.join(items.map((i) => sql`(${i.contentType}::text, ${i.contentId}::text, ${i.priority}::int, ${i.op}::text)`), sql`, `);
  await db.execute(sql`SELECT queue_for_embedding(v.content_type, v.content_id, v.priority, v.op, ${source}::text)
    FROM (VALUES ${values}) AS v(content_type, content_id, priority, op)`);
}

/**
 * Items just handed to QStash need no drain: their pending rows (from the trigger outbox) are done,
 * unless a change came after `since`, which the drain must still see.
 */
export async function markPublished(db: Database, items: Item[], since: Date): Promise<void> {
  for (const [contentType, group] of groupBy(items, (i) => i.contentType)) {
    await db
      .update(embeddingQueue)
      .set({ status: "done", updatedAt: sql`now()` })
      .where(and(eq(embeddingQueue.status, "pending"), eq(embeddingQueue.contentType, contentType),
        inArray(embeddingQueue.contentId, group.map((i) => i.contentId)), lte(embeddingQueue.updatedAt, since)));
  }
}
