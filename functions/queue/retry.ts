// Failed items' further rounds (retry-failed's schedule): back to pending with fresh attempts, a few
// rounds at most; after that an item stays failed until a person acts.
import { eq, sql } from "drizzle-orm";
import { embeddingQueue } from "../../schema/pipeline-tables.js";
import { yieldingWrite } from "../db/conflicts.js";
import { type Database, rowsOf } from "../db/database.js";
import { MOVED, moveInsert } from "./move.js";

/** Rounds an item gets from retry-failed; after that it stays failed until a person acts. */
export const MAX_RETRY_ROUNDS = 3;

/** Gives failed items another round (at most `maxRounds` in all) with fresh attempts; how many. */
export async function retryFailedRows(db: Database, maxRounds = MAX_RETRY_ROUNDS): Promise<number> {
  const [row] = await yieldingWrite(db, (tx) =>
    rowsOf<{ n: number }>(
      tx.execute(sql`WITH ${sql.raw(MOVED)} AS (
      DELETE FROM embedding_queue WHERE status = 'failed' AND retry_rounds < ${maxRounds} RETURNING *),
    inserted AS (${moveInsert({
      status: "pending",
      runAfter: sql`now()`,
      lastError: sql`last_error`,
      source: "retry",
      attempts: sql`0`,
      retryRounds: sql`retry_rounds + 1`,
      onConflict: sql`DO NOTHING`,
    })})
    SELECT count(*)::int AS n FROM ${sql.raw(MOVED)}`),
    ),
  );
  return row?.n ?? 0;
}

/** Items failed now, retried or not. */
export async function failedCount(db: Database): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(embeddingQueue).where(eq(embeddingQueue.status, "failed"));
  return row?.n ?? 0;
}
