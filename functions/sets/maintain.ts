// Maintenance's part in a model switch (ARCHITECTURE.md §13): a set switched from is dropped once its
// grace for rollback (EMBEDDING_ROLLBACK_DAYS) is over, never before; a shadow's missing items are queued
// at backfill priority while this deployment can embed them.
import { sql } from "drizzle-orm";
import { type Database, rowsOf } from "../db/database.js";
import { queueShadowMissing } from "../queue/index.js";
import { type Embedders, readSets, shadowWriter } from "./sets.js";
import { dropShadow } from "./shadow.js";

/** Nothing to say (an empty summary) when there is no shadow set. */
export async function maintainSets(
  db: Database,
  embedders: Embedders,
  rollbackDays: number,
): Promise<{ retiredSetDropped?: boolean; shadowItemsQueued?: number }> {
  const sets = await readSets(db);
  if (!sets.shadow) return {};
  if (sets.shadow.retiredAt) {
    const [row] = await rowsOf<{ over: boolean }>(
      db.execute(sql`SELECT retired_at <= now() - ${rollbackDays} * interval '1 day' AS over FROM embedding_sets WHERE role = 'shadow'`),
    );
    if (row?.over) return { retiredSetDropped: await dropShadow(db), shadowItemsQueued: 0 };
  }
  return { retiredSetDropped: false, shadowItemsQueued: shadowWriter(embedders, sets) ? await queueShadowMissing(db) : 0 };
}
