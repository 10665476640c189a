// The keyword half: Postgres full text over each chunk's `text_search` (a tsvector generated from its
// text and its type's configuration, GIN-indexed: drizzle/0005_text_search.sql), ranked by ts_rank_cd.
import { type SQL, sql } from "drizzle-orm";
import { type Registry, textConfigOf } from "../../schema/registry.js";
import { type Database, rowsOf } from "../db/database.js";
import { groupBy } from "../lib/item.js";
import { type SearchFilters, scopeConditions } from "./filters.js";
import { loggedStatement, type SearchLogEntry } from "./log.js";
import { type SearchHit, type SearchRequest, snippet, snippetSource } from "./types.js";

/**
 * Matching chunks ranked a query at most. ts_rank_cd reads each match's positions (~10 µs a chunk for
 * a query of nine words): ranking every match of a query of common words costs in proportion to the
 * table (BENCHMARKS.md §5), and at 1,000 it was most of the keyword half's p95 (§5, "The keyword half
 * ranks 500"). Past this many matches, the newest are ranked (a backward scan of the primary key stops at
 * them, as the planner judges from the words' statistics); up to it, the ranking is exact.
 */
export const KEYWORD_RANK_LIMIT = 500;

/** The order of `keywordChunks`' rows: ties in key order, so the answer is the same each time. */
const KEYWORD_ORDER = sql`rank DESC, content_type, content_id, chunk_index`;

/** Types searched with one text search configuration; `types` undefined: every row (one configuration for all types). */
export type ConfigGroup = { config: string; types?: string[] };

/**
 * The query is parsed per configuration, as each type's chunks were: a type with 'simple' is matched
 * by words as written, one with 'english' by their stems. Searching all types while they share one
 * configuration needs no type condition.
 */
export function configGroups(registry: Registry, types: string[] | undefined): ConfigGroup[] {
  const entries = types ? types.map((type) => registry.byType(type)!) : registry.entries;
  const groups = [...groupBy(entries, textConfigOf)].map(([config, group]) => ({ config, types: group.map((e) => e.type) }));
  return !types && groups.length === 1 ? [{ config: groups[0]!.config }] : groups;
}

/**
 * The best chunks by full-text rank, at most `candidates`. websearch_to_tsquery never fails on user
 * input: words are ANDed, "quoted phrases" and -exclusions work, stop words alone match nothing.
 * Normalization 32 puts the rank in [0, 1). Ties go in key order, so the answer is the same each time.
 */
export function keywordChunks(
  query: string,
  groups: ConfigGroup[],
  candidates: number,
  filters?: SearchFilters,
  rankLimit = KEYWORD_RANK_LIMIT,
): SQL {
  const parts = groups.map(({ config, types }) => {
    const tsquery = sql`websearch_to_tsquery(${config}::regconfig, ${query})`;
    const conditions = [sql`text_search @@ ${tsquery}`, ...scopeConditions(types, filters)];
    return sql`(SELECT content_type, content_id, chunk_index, ${snippetSource} AS chunk_text, ts_rank_cd(text_search, ${tsquery}, 32) AS rank
      FROM (SELECT content_type, content_id, chunk_index, chunk_text, text_search FROM embeddings
        WHERE ${sql.join(conditions, sql` AND `)} ORDER BY id DESC LIMIT ${rankLimit}) AS matched
      ORDER BY rank DESC, content_type, content_id, chunk_index LIMIT ${candidates})`;
  });
  return sql`SELECT * FROM (${sql.join(parts, sql` UNION ALL `)}) AS matches
    ORDER BY ${KEYWORD_ORDER} LIMIT ${candidates}`;
}

/** The keyword half's statement for `request` (its rows: `keywordHits`). */
export const keywordStatement = (registry: Registry, request: SearchRequest): SQL =>
  // Several chunks of one row may lead; fetch extra candidates so `limit` distinct rows remain.
  keywordChunks(request.query, configGroups(registry, request.types), request.limit * 4, request.filters);

/** The best chunk of each of the `limit` best rows by full text, best first; given `log`, the statement writes the log row. */
export async function keywordRanking(db: Database, registry: Registry, request: SearchRequest, log?: SearchLogEntry): Promise<SearchHit[]> {
  const statement = keywordStatement(registry, request);
  return keywordHits(await rowsOf<KeywordRow>(db.execute(log ? loggedStatement(statement, KEYWORD_ORDER, log) : statement)), request.limit);
}

export type KeywordRow = { content_type: string; content_id: string; chunk_index: number; chunk_text: string; rank: number };

/** The best chunk of each of the `limit` best rows among the keyword statement's rows (best first). */
export function keywordHits(rows: KeywordRow[], limit: number): SearchHit[] {
  const hits = new Map<string, SearchHit>();
  for (const row of rows) {
    const key = `${row.content_type}\u0000${row.content_id}`;
    if (hits.has(key)) continue;
    hits.set(key, {
      contentType: row.content_type,
      contentId: row.content_id,
      score: Number(row.rank),
      chunkIndex: row.chunk_index,
      snippet: snippet(row.chunk_text),
    });
  }
  return [...hits.values()].slice(0, limit);
}
