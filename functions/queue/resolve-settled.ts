// Settlement by row version (ARCHITECTURE.md §5): items just embedded close their failed records and
// the pending rows read before their texts, unless a change has touched those rows since.
import { and, eq, inArray, or, sql } from "drizzle-orm";
import { embeddingQueue } from "../../schema/pipeline-tables.js";
import type { Database } from "../db/database.js";
import { groupBy, type Item, itemKey } from "../lib/item.js";

/** A pending queue row as it stood when read: `version` is its xmin, which every update changes. */
export type PendingVersion = Item & { id: number; version: string };

/** The queue rows of these items in `status`: one condition per content type. */
function queueRowsOf(items: Item[], status: "pending" | "failed") {
  const perType = [...groupBy(items, (i) => i.contentType)].map(([contentType, group]) =>
    and(
      eq(embeddingQueue.contentType, contentType),
      inArray(
        embeddingQueue.contentId,
        group.map((i) => i.contentId),
      ),
    ),
  );
  return and(eq(embeddingQueue.status, status), or(...perType));
}

/**
 * The pending rows of these items as they stand. Read them before the items' rows: each change they
 * stand for was committed before this read, so the rows read after it hold that change.
 */
export async function pendingVersions(db: Database, items: Item[]): Promise<PendingVersion[]> {
  if (items.length === 0) return [];
  return db
    .select({
      id: embeddingQueue.id,
      version: sql<string>`xmin::text`,
      contentType: embeddingQueue.contentType,
      contentId: embeddingQueue.contentId,
    })
    .from(embeddingQueue)
    .where(queueRowsOf(items, "pending"));
}

/**
 * Items just embedded need nothing more: their failed records are done, and so are the pending rows
 * seen before their rows were read (a safety net, a trigger's outbox row), unless changed since. A
 * timestamp could not tell this: a trigger's row carries its transaction's start, which may be long
 * before that transaction commits.
 */
export async function resolveSettled(db: Database, items: Item[], seen: PendingVersion[]) {
  if (items.length === 0) return;
  // Rows are locked in id order (FOR UPDATE in a sorted subquery), as every settling writer does.
  await db.execute(sql`UPDATE embedding_queue SET status = 'done', updated_at = now() WHERE id IN (
    SELECT id FROM embedding_queue WHERE ${queueRowsOf(items, "failed")} ORDER BY id FOR UPDATE)`);
  const keys = new Set(items.map(itemKey));
  const settled = seen.filter((row) => keys.has(itemKey(row))).sort((a, b) => a.id - b.id);
  if (settled.length === 0) return;
  const versions = sql.join(
    settled.map((row) => sql`(${row.id}::bigint, ${row.version}::text)`),
    sql`, `,
  );
  // A row changed since it was read (a newer change coalesced into it) has another xmin: left pending.
  // One locked now is being changed by the application's transaction: skipped, never waited for (a
  // wait could close a deadlock with it); it stays pending and is processed again, harmlessly.
  await db.execute(sql`UPDATE embedding_queue q SET status = 'done', updated_at = now()
    WHERE q.id IN (SELECT p.id FROM embedding_queue p JOIN (VALUES ${versions}) AS v(id, version) ON p.id = v.id
      WHERE p.xmin::text = v.version AND p.status = 'pending' ORDER BY p.id FOR UPDATE SKIP LOCKED)`);
}
