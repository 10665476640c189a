// POST /api/embeddings/search: the best matching chunk of each source row, by cosine similarity
// through the HNSW index, by full text, or both fused (functions/search/modes.ts), logged to search_log.
import { inArray, type SQL, sql } from "drizzle-orm";
import type { FilterRequest } from "../schema/messages.js";
import { SearchRequestSchema } from "../schema/messages.js";
import type { VectorStorage } from "../schema/pipeline-tables.js";
import { columnsOf, idKey, labelled, type Registry } from "../schema/registry.js";
import { type Database, rowsOf } from "./db/database.js";
import { pgvectorHasSql } from "./db/pgvector.js";
import type { Deps } from "./deps.js";
import type { Embedder } from "./embedders/embedder.js";
import { LOCAL_MODEL, localEmbedder } from "./embedders/local.js";
import { requireSearchAccess } from "./http/auth.js";
import { createRouter, type Router, type SearchScope, Status } from "./http/create-app.js";
import { limitAnonymousSearches } from "./http/search-rate-limit.js";
import { type Budget, startRun } from "./lib/budget.js";
import { BadRequestError, OutOfTimeError, TransientError } from "./lib/errors.js";
import { groupBy } from "./lib/item.js";
import { parseBody } from "./lib/validate.js";
import { resolveFilters, type SearchFilters, scopeConditions } from "./search/filters.js";
import type { KeywordRow } from "./search/keyword.js";
import { loggedStatement, logSearch, type SearchLogEntry } from "./search/log.js";
import { rankByMode } from "./search/modes.js";
import { type Ranking, type SearchHit, type SearchRequest, snippet, snippetSource } from "./search/types.js";
import { readSets, type SetRow, type Sets, servingEmbedder, setsJsonSql, setsOf } from "./sets/sets.js";

export type { SearchHit, SearchRequest } from "./search/types.js";

/** A search as asked: its filters as the request names them (resolved against the registry by `search`). */
export type SearchBody = Omit<SearchRequest, "filters"> & { filters?: Record<string, FilterRequest> };

/** The best chunk of each matching row that `scope` may find, best first, with what its type lets a snippet show. */
export async function search(deps: Deps, request: SearchBody, scope: SearchScope) {
  const started = Date.now();
  // The query's embedding is cut to search's budget, under the edge's first-byte limit (README "Deploy").
  const { work } = startRun(deps.config.search.budgetMs, deps.clock);
  const scoped = searchableTypes(deps.registry, scope, request.types);
  const { types, filters } = resolveFilters(deps.registry, scoped, request.filters, !!request.types);
  // The log row is written by the statement that reads the last rows (functions/search/log.ts), or after.
  const log: SearchLogEntry = { query: request.query, types: request.types, limit: request.limit, started };
  const {
    hits: results,
    otherModels,
    logged,
  } = types?.length === 0
    ? { hits: [], otherModels: [], logged: false }
    : await rankByMode(
        deps.db,
        deps.registry,
        { ...request, types, filters },
        (within, keyword, log) => nearest(deps, within, work, keyword, log),
        log,
      );
  if (!logged) await logSearch(deps.db, log, results.length);
  await restrictSnippets(deps, results);
  const milliseconds = Date.now() - started;
  // Said plainly while a switch of embedder is being caught up with (ARCHITECTURE.md §7).
  const reembedding = otherModels.length
    ? {
        models: otherModels,
        note: `re-embedding under way: some rows still have vectors of ${otherModels.join(", ")}; those of a model at hand are searched with it, the others are missing until re-embedded`,
      }
    : undefined;
  return { mode: request.mode ?? "hybrid", results, milliseconds, ...(reembedding ? { reembedding } : {}) };
}

/** The types a search may look in: undefined for all. The search token finds only the public ones. */
function searchableTypes(registry: Registry, scope: SearchScope, requested: string[] | undefined): string[] | undefined {
  const unknown = requested?.filter((t) => !registry.byType(t));
  if (unknown?.length) throw new BadRequestError(`unknown content type: ${unknown.join(", ")}`);
  if (scope === "admin") return requested;
  const hidden = requested?.filter((t) => !registry.byType(t)!.search.public);
  if (hidden?.length) throw new BadRequestError(`not searchable with the search token: ${hidden.join(", ")} (only with ADMIN_TOKEN)`);
  if (requested) return requested;
  return registry.entries.every((e) => e.search.public) ? undefined : registry.entries.filter((e) => e.search.public).map((e) => e.type);
}

/**
 * The nearest rows by the current model's vectors. Rows whose vectors are of another model (a switch
 * of embedder being caught up with) are not comparable with them: they are searched again with that
 * model's own query vector where it is at hand (the local embedder always is), and named.
 */
async function nearest(
  deps: Deps,
  request: SearchRequest,
  budget: Budget,
  keyword?: SQL,
  log?: SearchLogEntry,
): Promise<Ranking & { keywordRows?: KeywordRow[] }> {
  const first = guessedEmbedder(deps) ?? servingEmbedder(deps, await readSets(deps.db));
  const current = await nearestOf(deps, first, request, budget, undefined, keyword, log);
  const best = current.hitsByKey;
  for (const model of current.otherModels) {
    const embedder = embedderAtHand(model, deps.embedder.dimensions);
    if (!embedder) continue;
    for (const [key, hit] of (await nearestOf(deps, embedder, request, budget, model)).hitsByKey) if (!best.has(key)) best.set(key, hit);
  }
  return {
    hits: [...best.values()].sort((a, b) => b.score - a.score).slice(0, request.limit),
    otherModels: current.otherModels,
    keywordRows: current.keywordRows,
  };
}

/**
 * The sets a search on this handle last read, in its transaction: the next search's guess of the model
 * to embed its query with (one round trip fewer). A guess made stale by a switch is caught where the
 * vectors are read, and the query embedded again (`nearestOf`).
 */
const lastSets = new WeakMap<Database, Sets>();

/** The serving embedder by those sets; undefined with none, or if it is not at hand (then the sets are read again). */
function guessedEmbedder(deps: Deps): Embedder | undefined {
  const sets = lastSets.get(deps.db);
  if (!sets) return undefined;
  try {
    return servingEmbedder(deps, sets);
  } catch {
    return undefined;
  }
}

const embedderAtHand = (model: string, dimensions: number) => (model === LOCAL_MODEL ? localEmbedder(dimensions) : undefined);

/**
 * The rows of the serving model (or of `model`), and, with `keyword`, the keyword half's. With `log`,
 * the scan writes the log row, counting as results what this function and fusion keep: rows of the
 * embedder's model with a finite score of at least minScore, and the keyword half's. Rows of another
 * model searched again with theirs (only a local model's: `embedderAtHand`) are not counted.
 */
async function nearestOf(
  deps: Deps,
  first: Embedder,
  request: SearchRequest,
  budget: Budget,
  model?: string,
  keyword?: SQL,
  log?: SearchLogEntry,
) {
  let embedder = first;
  let rows: NearestRow[] | undefined;
  let keywordRows: KeywordRow[] | undefined;
  // A model switch may commit while the query is embedded: the set is read again, FOR SHARE, in the
  // transaction that reads the vectors (functions/sets/switch.ts), and a query embedded with the model
  // just switched from is embedded again with the new one. A second switch meanwhile is not waited for.
  for (let attempt = 0; !rows && attempt < 3; attempt++) {
    const vector = await embedQuery(deps, embedder, request, budget);
    rows = await deps.db.transaction(async (tx) => {
      // One statement before the scan: the sets, the scan's settings and, in hybrid, the keyword half.
      // It is planned before its settings apply, so the keyword half's plan is its own (the settings
      // steer only the scan's: sorts off would make it read the table backwards for rare words).
      const [before] = await rowsOf<{ sets: SetRow[] | null; keyword?: KeywordRow[] | null }>(
        tx.execute(sql`SELECT ${setsJsonSql(true)} AS sets,
          ${searchSettings(request.types, candidates(request), deps.config.search.exactLimit, request.filters)} AS settings
          ${keyword ? sql`, (SELECT json_agg(k) FROM (${keyword}) AS k) AS keyword` : sql``}`),
      );
      const sets = setsOf(before?.sets ?? []);
      lastSets.set(deps.db, sets);
      const serving = model ? embedder : servingEmbedder(deps, sets);
      if (serving !== embedder) {
        embedder = serving;
        return undefined;
      }
      keywordRows = before?.keyword ?? [];
      const scan = nearestChunks(vector, request.types, candidates(request), model, request.filters, sets.serving?.storage);
      const results = {
        where: sql`model = ${embedder.model} AND distance <> 'NaN'::float8 AND 1 - distance >= ${request.minScore}`,
        keys: keywordRows.map((row): [string, string] => [row.content_type, row.content_id]),
      };
      return rowsOf<NearestRow>(tx.execute(log ? loggedStatement(scan, sql`distance`, log, results) : scan));
    });
  }
  if (!rows) throw new TransientError("the embedding model was switched twice during this search; try again");
  const hitsByKey = new Map<string, SearchHit>();
  const otherModels = new Set<string>();
  for (const row of rows) {
    const key = `${row.content_type}\u0000${row.content_id}`;
    const score = 1 - Number(row.distance);
    if (row.model !== embedder.model) otherModels.add(row.model);
    // A zero vector has no cosine (NaN): it matches nothing.
    if (row.model !== embedder.model || !Number.isFinite(score) || score < request.minScore || hitsByKey.has(key)) continue;
    hitsByKey.set(key, {
      contentType: row.content_type,
      contentId: row.content_id,
      score,
      chunkIndex: row.chunk_index,
      snippet: snippet(row.chunk_text),
    });
  }
  return { hitsByKey, otherModels: [...otherModels].sort(), keywordRows };
}

type NearestRow = { content_type: string; content_id: string; chunk_index: number; chunk_text: string; model: string; distance: number };

/** Several chunks of one row may lead; fetch extra candidates so `limit` distinct rows remain. */
const candidates = (request: SearchRequest) => request.limit * 4;

async function embedQuery(deps: Deps, embedder: Embedder, request: SearchRequest, budget: Budget): Promise<number[]> {
  const [vector] = await embedder.embed([request.query], budget).catch((error: unknown) => {
    if (!(error instanceof OutOfTimeError)) throw error;
    throw new OutOfTimeError(
      `the embedding API did not answer the query within search's budget (SEARCH_BUDGET_MS, ${deps.config.search.budgetMs} ms, under the platform's first-byte limit): ${error.message}; try again`,
      error.retryAfterMs,
    );
  });
  return vector!;
}

/**
 * A chunk holds every embedded field; a type that lets its snippet show only some of them gets a
 * snippet of those fields alone, read from its rows (one query per such type).
 */
async function restrictSnippets(deps: Deps, hits: SearchHit[]) {
  for (const [type, group] of groupBy(hits, (hit) => hit.contentType)) {
    const entry = deps.registry.byType(type);
    if (!entry || entry.embedded.every((column) => entry.search.snippet.includes(column))) continue;
    const columns = columnsOf(entry, entry.search.snippet);
    const shown = Object.keys(columns).filter((key) => entry.search.snippet.includes(columns[key]!));
    const rows = (await deps.db
      .select(columns)
      .from(entry.table)
      .where(
        inArray(
          entry.idColumn,
          group.map((hit) => hit.contentId),
        ),
      )) as Record<string, unknown>[];
    const byId = new Map(rows.map((row) => [String(row[idKey(entry)]), row]));
    for (const hit of group) {
      const row = byId.get(hit.contentId);
      hit.snippet = row ? snippet(labelled(shown.map((key) => ["", row[key] as string | string[] | null]))) : "";
    }
  }
}

/**
 * The HNSW scan's candidate list, at least. Too short a list lets the greedy descent settle in the
 * wrong cluster, and a query then finds none of its ten. On clustered vectors (100,000 chunks, `npm run
 * bench -- efsearch`, BENCHMARKS.md §5 "Recall at 100% in every build"), over 4 builds of the index
 * (parallel, never the same graph) and 300 queries each: at 100, every build left 1–4 queries at
 * recall 0; at 150 two builds did, at 200 one (of 7 builds); at 400 none in 7 builds (the lowest 0.8),
 * for ~0.4 ms more a query p50 in the server than at 100 (1.6–2.1 ms against 1.2–1.5). Cheaper than a
 * denser graph (m, ef_construction), which every build of the index would pay for.
 */
const MIN_EF_SEARCH = 400;

/**
 * Sets up one search transaction, which decides how it is served.
 * - Through the HNSW index: a WHERE clause makes the planner guess few rows and read them all through
 *   another index or a scan, then sort, so sequential scans and sorts are off (the HNSW scan returns
 *   rows in order); iterative scans find filtered rows past the first ef_search candidates (pgvector
 *   0.8 or later; before it, a filtered search may find fewer rows than asked: README "Supabase").
 * - Exactly, when the types and filters match at most `exactLimit` chunks (counted through their
 *   indexes, no further than that): an iterative scan gives up after hnsw.max_scan_tuples rows, which
 *   rare rows may not be among. With index scans off (HNSW has no bitmap scan) the matching rows are
 *   read through the btree and GIN indexes (a bitmap) and sorted by distance.
 * - A filter broader than that keeps more than `exactLimit` of the table's rows: the iterative scan may
 *   read up to 4 × candidates ÷ that share, so it meets `candidates` matches well before it stops.
 */
export async function applySearchSettings(
  tx: Database,
  types: string[] | undefined,
  candidates: number,
  exactLimit: number,
  filters?: SearchFilters,
) {
  await tx.execute(sql`SELECT ${searchSettings(types, candidates, exactLimit, filters)}`);
}

/**
 * `applySearchSettings`' work as one expression (text, never null), for a statement that does more:
 * the bounded count, and each setting as `set_config` (local to the transaction) decided from it.
 * pgvector before 0.8 has no iterative scans: it refuses those settings once loaded, or leaves a
 * placeholder that does nothing; CASE asks the server first.
 */
export function searchSettings(types: string[] | undefined, candidates: number, exactLimit: number, filters?: SearchFilters): SQL {
  const conditions = scopeConditions(types, filters);
  // How many chunks meet the conditions, counting no further than exactLimit + 1, and the table's rows
  // as the planner last counted them; with no condition, neither (never exact). OFFSET 0 keeps it a
  // subquery, counted once: pulled up, each use of c.matching would count again (8 counts, BENCHMARKS.md §5).
  const counted = conditions.length
    ? sql`SELECT (SELECT count(*)::int FROM (SELECT 1 FROM embeddings WHERE ${sql.join(conditions, sql` AND `)} LIMIT ${exactLimit + 1}) AS m) AS matching,
        (SELECT greatest(reltuples, 0)::float8 FROM pg_catalog.pg_class WHERE oid = 'embeddings'::regclass) AS rows`
    : sql`SELECT NULL::int AS matching, NULL::float8 AS rows`;
  const exact = sql`coalesce(c.matching <= ${exactLimit}, false)`;
  const iterative = sql`${pgvectorHasSql("iterativeScan")} AND NOT ${exact}`;
  const efSearch = String(Math.max(MIN_EF_SEARCH, Math.min(candidates, 1000)));
  const maxScanTuples = sql`greatest(20000, ceil(4.0 * ${candidates} * greatest(c.rows, c.matching) / nullif(c.matching, 0)))::bigint::text`;
  // synchronous_commit off: the search's commit (its sets' share locks, its log row) need not wait for
  // the WAL to reach the disk (or Neon's safekeepers); a database crash may lose the last log rows, never data.
  return sql`(SELECT concat(
      set_config('synchronous_commit', 'off', true),
      set_config('enable_seqscan', 'off', true),
      CASE WHEN ${exact} THEN set_config('enable_indexscan', 'off', true) ELSE set_config('enable_sort', 'off', true) END,
      CASE WHEN NOT ${exact} THEN set_config('hnsw.ef_search', ${efSearch}, true) END,
      CASE WHEN ${iterative} THEN set_config('hnsw.iterative_scan', 'relaxed_order', true) END,
      CASE WHEN ${iterative} AND c.matching > 0 THEN set_config('hnsw.max_scan_tuples', ${maxScanTuples}, true) END
    ) FROM (${counted} OFFSET 0) AS c)`;
}

/**
 * The nearest chunks by cosine distance, optionally of some content types, filters, or one model, only.
 * The query vector is cast to the serving column's type (`storage`, halfvec after such a switch), so
 * the operator is the one its HNSW index serves.
 */
export function nearestChunks(
  vector: number[],
  types: string[] | undefined,
  candidates: number,
  model?: string,
  within?: SearchFilters,
  storage: VectorStorage = "vector",
) {
  const literal = JSON.stringify(vector);
  const type = sql.raw(storage === "halfvec" ? "halfvec" : "vector");
  const filters = [...scopeConditions(types, within), ...(model ? [sql`model = ${model}`] : [])];
  // Ordered by the output column: the query vector is sent and parsed once, and the HNSW index still serves the order.
  return sql`SELECT content_type, content_id, chunk_index, ${snippetSource} AS chunk_text, model, embedding <=> ${literal}::${type} AS distance
    FROM embeddings
    ${filters.length ? sql`WHERE ${sql.join(filters, sql` AND `)}` : sql``}
    ORDER BY distance
    LIMIT ${candidates}`;
}

export function searchRouter(deps: Deps): Router {
  return createRouter().post(
    "/search",
    requireSearchAccess(deps.config),
    limitAnonymousSearches(deps.db, deps.config.search.publicPerMinute),
    async (c) => c.json(await search(deps, parseBody(SearchRequestSchema, await c.req.text()), c.get("searchScope")), Status.ok),
  );
}
