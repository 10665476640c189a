// A summary of everything the functions can write, to prove a refused request changed nothing.
import { sql } from "drizzle-orm";
import { type Database, rowsOf } from "../../functions/db/database";

export async function fingerprint(db: Database): Promise<string> {
  const rows = await rowsOf<Record<string, unknown>>(
    db.execute(sql`SELECT
    (SELECT count(*) FROM embedding_queue)::int AS queue, (SELECT max(updated_at) FROM embedding_queue)::text AS queue_at,
    (SELECT string_agg(status, ',' ORDER BY id) FROM embedding_queue) AS statuses,
    (SELECT count(*) FROM embeddings)::int AS embeddings, (SELECT max(updated_at) FROM embeddings)::text AS embeddings_at,
    (SELECT count(*) FROM job_runs)::int AS runs, (SELECT count(*) FROM search_log)::int AS searches`),
  );
  return JSON.stringify(rows[0]);
}
