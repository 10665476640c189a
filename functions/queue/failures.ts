// Failed items as a person sees them: one `failed` row per item in embedding_queue, with the error.
import { and, eq, inArray, lte, or, sql } from "drizzle-orm";
import { embeddingQueue, type QueueSource } from "../../schema/pipeline-tables";
import type { Registry } from "../../schema/registry";
import type { Database } from "../db/database";
import { groupBy, type FailedItem, type Item } from "../core/item";

/** Records items as failed, or updates the failed record they already have. */
export async function recordFailed(db: Database, registry: Registry, failed: FailedItem[], source: QueueSource) {
  if (failed.length === 0) return;
  await db
    .insert(embeddingQueue)
    .values(
      failed.map((f) => ({
        contentType: f.contentType, contentId: f.contentId, status: "failed" as const, source, attempts: 1,
        priority: registry.byType(f.contentType)?.priority ?? 5, lastError: f.error.slice(0, 2000),
      })),
    )
    .onConflictDoUpdate({
      target: [embeddingQueue.contentType, embeddingQueue.contentId],
      targetWhere: sql`status = 'failed'`,
      set: { lastError: sql`excluded.last_error`, attempts: sql`${embeddingQueue.attempts} + 1`, updatedAt: sql`now()` },
    });
}

/**
 * Items just embedded from rows read after `since` need nothing more: their failed records and the
 * pending rows of changes made before `since` (a safety net, a trigger's outbox row) are done.
 */
export async function resolveSettled(db: Database, items: Item[], since: Date) {
  for (const [contentType, group] of groupBy(items, (i) => i.contentType)) {
    await db
      .update(embeddingQueue)
      .set({ status: "done", updatedAt: sql`now()` })
      .where(and(
        eq(embeddingQueue.contentType, contentType),
        inArray(embeddingQueue.contentId, group.map((i) => i.contentId)),
        or(eq(embeddingQueue.status, "failed"), and(eq(embeddingQueue.status, "pending"), lte(embeddingQueue.updatedAt, since))),
      ));
  }
}
