// Done rows are history: kept a week for the status page's numbers, then deleted by maintenance.
import { and, eq, lt, sql } from "drizzle-orm";
import { embeddingQueue } from "../../schema/pipeline-tables.js";
import type { Database } from "../db/database.js";

export const DONE_RETENTION_DAYS = 7;

/** Deletes done rows untouched for `days`; how many. */
export async function deleteDoneRows(db: Database, days = DONE_RETENTION_DAYS): Promise<number> {
  const deleted = await db
    .delete(embeddingQueue)
    .where(and(eq(embeddingQueue.status, "done"), lt(embeddingQueue.updatedAt, sql`now() - ${days} * interval '1 day'`)))
    .returning({ id: embeddingQueue.id });
  return deleted.length;
}
