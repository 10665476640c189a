// How long the oldest unfinished change of each lane has waited: one probe of the index
// embedding_queue_unfinished_age per priority present (the counts say which), never a scan of the backlog.
import { sql } from "drizzle-orm";
import { type Database, rowsOf } from "../db/database.js";
import { LANES, type Lane, laneFor } from "../qstash/lanes.js";
import type { QueueCount } from "./queue-counts.js";

export type Unfinished = "pending" | "processing";

/**
 * Per lane, the created_at (ms) of its oldest row in `statuses` (null: none), for the priorities
 * `counts` has rows of in those statuses, optionally below `belowPriority` (background work apart).
 */
export async function oldestByLane(
  db: Database,
  counts: QueueCount[],
  statuses: Unfinished[],
  belowPriority = Number.POSITIVE_INFINITY,
): Promise<Record<Lane, number | null>> {
  const oldest = Object.fromEntries(LANES.map((lane) => [lane, null])) as Record<Lane, number | null>;
  const priorities = [
    ...new Set(
      counts.filter((c) => c.count > 0 && statuses.includes(c.status as Unfinished) && c.priority < belowPriority).map((c) => c.priority),
    ),
  ];
  if (priorities.length === 0) return oldest;
  const list = sql.join(
    priorities.map((p) => sql`(${p}::int)`),
    sql`, `,
  );
  const wanted = sql.join(
    statuses.map((s) => sql`${s}`),
    sql`, `,
  );
  const rows = await rowsOf<{ priority: number; oldest: number | null }>(
    db.execute(sql`
    SELECT p.priority, (SELECT extract(epoch FROM min(q.created_at)) * 1000 FROM embedding_queue q
      WHERE q.status IN ('pending', 'processing') AND q.status IN (${wanted}) AND q.priority = p.priority)::float8 AS oldest
    FROM (VALUES ${list}) AS p(priority)`),
  );
  for (const row of rows) {
    if (row.oldest == null) continue;
    const lane = laneFor(row.priority);
    oldest[lane] = Math.min(oldest[lane] ?? Number.POSITIVE_INFINITY, row.oldest);
  }
  return oldest;
}
