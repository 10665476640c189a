// search_log: a row per search answered (what was asked, how many results, how long), which the
// anonymous search limit counts (functions/http/search-rate-limit.ts) and maintenance prunes. Written
// by the statement that reads a search's last rows, in its transaction, so it costs no round trip of
// its own and is never left behind when the function is frozen after answering (BENCHMARKS.md §5).
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../db/database.js";

/** Enough of a query to see what people look for, and a log row of bounded size. */
export const LOGGED_QUERY_CHARACTERS = 200;

/** What the log row says of a search: its query and types as asked, its limit, and when it started (Date.now()). */
export type SearchLogEntry = { query: string; types?: string[]; limit: number; started: number };

/** How a statement's rows count as results: those that `where` keeps, with `keys` (content type, id) found before it. */
export type ResultsOf = { where?: SQL; keys?: [string, string][] };

function logRow(entry: SearchLogEntry, resultCount: SQL, milliseconds: SQL): SQL {
  const types = entry.types
    ? sql`ARRAY[${sql.join(
        entry.types.map((type) => sql`${type}`),
        sql`, `,
      )}]::text[]`
    : sql`NULL::text[]`;
  return sql`INSERT INTO search_log (query, content_types, result_count, milliseconds)
    VALUES (${entry.query.slice(0, LOGGED_QUERY_CHARACTERS)}, ${types}, ${resultCount}, ${milliseconds})`;
}

/** The log row of a search whose last statement could not write it (one that read no rows). */
export async function logSearch(db: Database, entry: SearchLogEntry, resultCount: number) {
  await db.execute(logRow(entry, sql`${resultCount}::int`, sql`${Date.now() - entry.started}::int`));
}

/**
 * `statement`'s rows in `order`, and the log row written by the same statement. Its result count is
 * what the search answers with: the distinct rows among `statement`'s that `results.where` keeps and
 * `results.keys`, at most the limit (each half ranks at least `limit` rows, so the halves' own cuts
 * change nothing below it). Its milliseconds run until the database had the rows.
 */
export function loggedStatement(statement: SQL, order: SQL, entry: SearchLogEntry, results: ResultsOf = {}): SQL {
  const counted = sql`SELECT content_type, content_id FROM found ${results.where ? sql`WHERE ${results.where}` : sql``}
    UNION SELECT k->>0, k->>1 FROM jsonb_array_elements(${JSON.stringify(results.keys ?? [])}::jsonb) AS k`;
  const resultCount = sql`least(${entry.limit}::int, (SELECT count(*) FROM (${counted}) AS r))::int`;
  // The statement runs its INSERT after the query that reads `found`: clock_timestamp() is then past the scan.
  const milliseconds = sql`round(${Date.now() - entry.started}::int + extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::int`;
  return sql`WITH found AS MATERIALIZED (${statement}), logged AS (${logRow(entry, resultCount, milliseconds)})
    SELECT * FROM found ORDER BY ${order}`;
}
