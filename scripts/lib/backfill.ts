// Queues every existing row of the registered tables, in id order and batches, so a new deployment
// (or a new content type) gets embedded. Resumable: it continues after the last id it reports.
import { asc, getTableName, gt } from "drizzle-orm";
import type { Database } from "../../functions/db/database";
import { queueItems } from "../../functions/queue";
import { BACKGROUND_PRIORITY, type ContentType } from "../../schema/registry";

/** Backfill goes to the database lane, behind live traffic (BACKGROUND_PRIORITY). */
export async function backfill(
  db: Database,
  entry: ContentType,
  options: { batchSize?: number; after?: string; onProgress?: (done: number, lastId: string) => void } = {},
): Promise<number> {
  let after = options.after;
  let done = 0;
  for (;;) {
    const rows = (await db
      .select({ id: entry.idColumn })
      .from(entry.table)
      .where(after === undefined ? undefined : gt(entry.idColumn, after))
      .orderBy(asc(entry.idColumn))
      .limit(options.batchSize ?? 1000)) as { id: unknown }[];
    if (rows.length === 0) return done;
    await queueItems(
      db,
      rows.map((r) => ({ contentType: entry.type, contentId: String(r.id), priority: BACKGROUND_PRIORITY, op: "upsert" })),
      "backfill",
    );
    done += rows.length;
    after = String(rows.at(-1)!.id);
    options.onProgress?.(done, after);
  }
}

export const tableOf = (entry: ContentType) => getTableName(entry.table);
