// A status move (ARCHITECTURE.md §5, "Status moves never race twins"): two partial unique indexes keep one
// pending and one failed row per item, so a row moving into either status is deleted and re-inserted in
// ONE statement, `INSERT … ON CONFLICT` on that index: a twin a trigger or another writer inserts
// meanwhile is merged with, never a 23505 (an UPDATE into the status would race it, and lose an attempt
// or a retry round).
import { type SQL, sql } from "drizzle-orm";
import type { QueueSource } from "../../schema/pipeline-tables.js";

/** The CTE that holds the deleted rows of a move. */
export const MOVED = "moved";

export type Target = {
  status: "pending" | "failed";
  runAfter: SQL;
  lastError: SQL;
  onConflict: SQL;
  source?: QueueSource;
  attempts?: SQL;
  retryRounds?: SQL;
};

/** `WITH moved AS (<rows: a DELETE … RETURNING>) <insert them in their new status>`. */
export function move(target: Target & { rows: SQL }): SQL {
  return sql`WITH ${sql.raw(MOVED)} AS (${target.rows}) ${moveInsert(target)}`;
}

/**
 * Re-inserts the deleted rows, same ids, in their new status; one per item (the newest), so that an
 * `ON CONFLICT DO UPDATE` never meets the same item twice in one statement.
 */
export function moveInsert(t: Target): SQL {
  return sql`INSERT INTO embedding_queue
      (id, content_type, content_id, op, priority, status, attempts, retry_rounds, last_error, run_after, locked_until, source, created_at, updated_at)
    SELECT DISTINCT ON (content_type, content_id) id, content_type, content_id, op, priority, ${t.status}::text,
      ${t.attempts ?? sql`attempts`}, ${t.retryRounds ?? sql`retry_rounds`}, ${t.lastError}, ${t.runAfter}, NULL,
      coalesce(${t.source ?? null}::text, source), created_at, now()
    FROM ${sql.raw(MOVED)} ORDER BY content_type, content_id, id DESC
    ON CONFLICT (content_type, content_id) WHERE status = ${sql.raw(`'${t.status}'`)} ${t.onConflict}`;
}
