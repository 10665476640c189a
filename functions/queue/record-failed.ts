// Failed items as a person sees them: one `failed` row per item in embedding_queue, with the error.
// For items refused for good before any row of theirs was claimed. No function records them so today
// (the item messages and their failure callback are gone: the drain settles claimed rows, settle.ts).
import { sql } from "drizzle-orm";
import { DEFAULT_PRIORITY, embeddingQueue, type QueueSource } from "../../schema/pipeline-tables.js";
import type { Registry } from "../../schema/registry.js";
import { retryConflicts } from "../db/conflicts.js";
import type { Database } from "../db/database.js";
import { MAX_ERROR_LENGTH } from "../lib/errors.js";
import { compareItems, type FailedItem, uniqueItems } from "../lib/item.js";

/** Records items as failed, or updates the failed record they already have. */
export async function recordFailed(db: Database, registry: Registry, failed: FailedItem[], source: QueueSource) {
  if (failed.length === 0) return;
  // Once per item (ON CONFLICT DO UPDATE may touch a row once), in the one global order.
  const sorted = uniqueItems(failed).sort(compareItems);
  await retryConflicts(() =>
    db
      .insert(embeddingQueue)
      .values(
        sorted.map((f) => ({
          contentType: f.contentType,
          contentId: f.contentId,
          status: "failed" as const,
          source,
          attempts: 1,
          priority: registry.byType(f.contentType)?.priority ?? DEFAULT_PRIORITY,
          lastError: f.error.slice(0, MAX_ERROR_LENGTH),
        })),
      )
      .onConflictDoUpdate({
        target: [embeddingQueue.contentType, embeddingQueue.contentId],
        targetWhere: sql`status = 'failed'`,
        set: { lastError: sql`excluded.last_error`, attempts: sql`${embeddingQueue.attempts} + 1`, updatedAt: sql`now()` },
      }),
  );
}
