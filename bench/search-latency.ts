// Top-10 search latency at n stored vectors (two thirds posts, a third courses): database time and end
// to end, unfiltered and for courses only. "Database" is the nearest-neighbour statement as the client
// waits for it (one round trip); "execution" the server's own time for it (EXPLAIN ANALYZE). On BENCH_DATABASE_URL's PostgreSQL, or PGlite when unset.
// The keyword half's statement likewise, and keyword and hybrid search end to end, for the same
// 60-character queries (their words ANDed: ~9 words) and for two-word queries (far more matches to rank).
// The vectors are bench/clustered.ts's (topics in a latent space), the texts realisticText's.
// Filtered recall: search filters keeping 0.01%, 0.1%, 1%, 10% and 100% of the rows (`{"k4": true}` …),
// recall@10 of `search` (mode vector) against an exact scan of the same rows, and its latency.
import { sql } from "drizzle-orm";
import { loadConfig } from "../functions/config";
import { rowsOf } from "../functions/db/database";
import { buildHnswIndex, dropHnswIndex } from "../functions/db/hnsw-index";
import type { Deps } from "../functions/deps";
import { applySearchSettings, nearestChunks, search } from "../functions/search";
import { configGroups, keywordChunks } from "../functions/search/keyword";
import { course, FILTER_DATE_INDEX, FILTERS_INDEX, HNSW_INDEX, TEXT_SEARCH_INDEX } from "../schema";
import type { SearchMode } from "../schema/messages";
import { createRegistry, defaultRegistry } from "../schema/registry";
import { type BenchDatabase, benchServerUrl, copyText, openBenchDatabase } from "./bench-database";
import { clusteredCorpus } from "./clustered";
import { percentile, realisticText, seededRandom } from "./corpus";

export async function searchLatency(n: number, queries = 100) {
  const connection = await openBenchDatabase();
  const { db } = connection;
  const random = seededRandom(n + 1);
  // Vectors with structure (bench/clustered.ts); the texts stay realisticText's, for the keyword half.
  const corpus = clusteredCorpus(n + 7, 1536);
  const embedder = corpus.embedder;
  try {
    await loadChunks(connection, n, random, corpus);
    // With BENCH_SEARCH_DEFAULT_BUILD=1, first the same index at the server's default settings, timed, then dropped.
    let defaultIndexSeconds: number | undefined;
    if (benchServerUrl && process.env.BENCH_SEARCH_DEFAULT_BUILD === "1") {
      const started = performance.now();
      await connection.query(`CREATE INDEX ${HNSW_INDEX} ON embeddings USING hnsw (embedding vector_cosine_ops)`);
      defaultIndexSeconds = (performance.now() - started) / 1000;
      console.log(`(${n} vectors: index built at the server's defaults in ${defaultIndexSeconds.toFixed(1)} s)`);
      await dropHnswIndex(db);
    }
    const indexSeconds = await buildIndexes(connection, n);
    const deps: Deps = { db, embedder, registry: benchRegistry, config: loadConfig({}) };
    const database: number[] = [];
    const execution: number[] = [];
    const endToEnd: number[] = [];
    const filtered: number[] = [];
    const keyword = { statement: [] as number[], execution: [] as number[], matches: [] as number[], endToEnd: [] as number[] };
    const twoWords = { statement: [] as number[], execution: [] as number[], matches: [] as number[], endToEnd: [] as number[] };
    const hybrid: number[] = [];
    const hybridTwoWords: number[] = [];
    // A query vector never searched before reads index pages the server may not hold (the HNSW index of
    // 100,000 × 1,536 dimensions, 781 MB, against .ci/postgres's 256 MB of buffers): each mode is timed
    // on such a vector too, as a new query meets it, apart from the figures above, whose vectors were
    // searched a moment before (the vector mode's by its statement and EXPLAIN, hybrid's by vector mode).
    const fresh = { vector: [] as number[], hybrid: [] as number[] };
    // The texts whose vectors were searched: a pair drawn again (70 words) is not timed as new.
    const searched = new Set<string>();
    const searchFresh = async (times: number[], mode: SearchMode, text: string) => {
      if (searched.has(text)) await searchIn(mode, text)();
      else await timed(times, searchIn(mode, text));
      searched.add(text);
    };
    const embedding: number[] = [];
    const groups = configGroups(deps.registry, undefined);
    const timed = async (times: number[], run: () => Promise<unknown>) => {
      const started = performance.now();
      await run();
      times.push(performance.now() - started);
    };
    const searchIn = (mode: SearchMode, query: string) => () => search(deps, { query, limit: 10, minScore: 0, mode }, "admin");
    /** The keyword statement's round trip, the server's time for it, and how many chunks it had to rank. */
    const keywordStatement = async (query: string, into: typeof keyword) => {
      await timed(into.statement, () => db.execute(keywordChunks(query, groups, 40)));
      const plan = await rowsOf<{ "QUERY PLAN": [{ "Execution Time": number; Plan: Record<string, unknown> }] }>(
        db.execute(sql`EXPLAIN (ANALYZE, FORMAT JSON) ${keywordChunks(query, groups, 40)}`),
      );
      into.execution.push(plan[0]!["QUERY PLAN"][0]["Execution Time"]);
      into.matches.push(matchedRows(plan[0]!["QUERY PLAN"][0].Plan));
    };
    for (let q = 0; q < queries; q++) {
      const query = realisticText(random).slice(0, 60);
      const pair = realisticText(random).split(/\W+/).slice(2, 4).join(" ");
      const embedStarted = performance.now();
      const vector = corpus.vectorOf(query);
      embedding.push(performance.now() - embedStarted);
      searched.add(query);
      await db.transaction(async (tx) => {
        await applySearchSettings(tx, undefined, 40, deps.config.search.exactLimit);
        const t0 = performance.now();
        await tx.execute(nearestChunks(vector, undefined, 40));
        database.push(performance.now() - t0);
        // The server's own time for the same statement, without the round trip.
        const plan = await rowsOf<{ "QUERY PLAN": [{ "Execution Time": number }] }>(
          tx.execute(sql`EXPLAIN (ANALYZE, FORMAT JSON) ${nearestChunks(vector, undefined, 40)}`),
        );
        execution.push(plan[0]!["QUERY PLAN"][0]["Execution Time"]);
      });
      await timed(endToEnd, searchIn("vector", query));
      await timed(filtered, () => search(deps, { query, types: ["course"], limit: 10, minScore: 0, mode: "vector" }, "admin"));
      await keywordStatement(query, keyword);
      await keywordStatement(pair, twoWords);
      await timed(keyword.endToEnd, searchIn("keyword", query));
      await timed(twoWords.endToEnd, searchIn("keyword", pair));
      await timed(hybrid, searchIn("hybrid", query));
      await searchFresh(fresh.vector, "vector", pair);
      await timed(hybridTwoWords, searchIn("hybrid", pair));
      // The same words the other way round: the same keyword half, a query vector of its own.
      await searchFresh(fresh.hybrid, "hybrid", pair.split(" ").reverse().join(" "));
    }
    const p = (values: number[]) => ({ p50: percentile(values, 50), p95: percentile(values, 95) });
    const filteredRecall = await measureFilteredRecall(deps, n, Number(process.env.BENCH_RECALL_QUERIES ?? 30), random, corpus.vectorOf);
    // The keyword statement before its rank limit: every match of a two-word query ranked.
    const uncapped: number[] = [];
    for (let q = 0; q < 20; q++) {
      const pair = realisticText(random).split(/\W+/).slice(2, 4).join(" ");
      const plan = await rowsOf<{ "QUERY PLAN": [{ "Execution Time": number }] }>(
        db.execute(sql`EXPLAIN (ANALYZE, FORMAT JSON) ${keywordChunks(pair, groups, 40, undefined, 1e9)}`),
      );
      uncapped.push(plan[0]!["QUERY PLAN"][0]["Execution Time"]);
    }
    const keywordFigures = (k: typeof keyword) => ({
      statementMs: p(k.statement),
      executionMs: p(k.execution),
      endToEndMs: p(k.endToEnd),
      matchedChunks: p(k.matches),
    });
    const plan = await db.transaction(async (tx) => {
      await applySearchSettings(tx, ["post"], 40, deps.config.search.exactLimit);
      return rowsOf<{ "QUERY PLAN": string }>(tx.execute(sql`EXPLAIN ${nearestChunks(corpus.vectorOf("x"), ["post"], 40)}`));
    });
    return {
      n,
      indexBuildSeconds: indexSeconds,
      defaultIndexSeconds,
      usesIndex: plan.some((r) => r["QUERY PLAN"].includes(HNSW_INDEX)),
      databaseMs: { p50: percentile(database, 50), p95: percentile(database, 95) },
      executionMs: { p50: percentile(execution, 50), p95: percentile(execution, 95) },
      endToEndMs: { p50: percentile(endToEnd, 50), p95: percentile(endToEnd, 95) },
      filteredMs: { p50: percentile(filtered, 50), p95: percentile(filtered, 95) },
      embedQueryMs: p(embedding),
      keyword: keywordFigures(keyword),
      keywordTwoWords: keywordFigures(twoWords),
      hybridMs: p(hybrid),
      hybridTwoWordsMs: p(hybridTwoWords),
      freshVectorMs: p(fresh.vector),
      freshHybridMs: p(fresh.hybrid),
      uncappedTwoWordsExecutionMs: p(uncapped),
      filteredRecall,
    };
  } finally {
    await connection.close();
  }
}

/** n chunks (text of `random`, vectors of `corpus`, filters of FILTER_SHARES) loaded without the indexes, which are dropped first. */
export async function loadChunks(connection: BenchDatabase, n: number, random: () => number, corpus: ReturnType<typeof clusteredCorpus>) {
  const { db } = connection;
  const embedder = corpus.embedder;
  // Load without the indexes, then build them: the fast way to reach n vectors (see BENCHMARKS.md).
  await dropHnswIndex(db);
  for (const index of [TEXT_SEARCH_INDEX, FILTERS_INDEX, FILTER_DATE_INDEX]) await db.execute(sql.raw(`DROP INDEX IF EXISTS ${index}`));
  const columns = [
    "content_type",
    "content_id",
    "chunk_index",
    "chunk_text",
    "content_hash",
    "model",
    "dimensions",
    "embedding",
    "filters",
  ];
  for (let i = 0; i < n; i += 5000) {
    const lines = Array.from({ length: Math.min(5000, n - i) }, (_, j) => {
      const text = realisticText(random);
      const row = [
        (i + j) % 3 ? "post" : "course",
        String(i + j),
        0,
        text,
        "h",
        embedder.model,
        1536,
        JSON.stringify(corpus.rowVector(i + j)),
        filtersOf(i + j),
      ];
      return row.map(copyText).join("\t");
    });
    await connection.copyIn("embeddings", columns, lines);
  }
}

/** The full-text, filter and HNSW indexes, then ANALYZE: returns the HNSW build's seconds. */
export async function buildIndexes(connection: BenchDatabase, n: number) {
  const { db } = connection;
  const textStarted = performance.now();
  await db.execute(sql.raw(`CREATE INDEX ${TEXT_SEARCH_INDEX} ON embeddings USING gin (text_search)`));
  await db.execute(sql.raw(`CREATE INDEX ${FILTERS_INDEX} ON embeddings USING gin (filters jsonb_path_ops)`));
  await db.execute(sql.raw(`CREATE INDEX ${FILTER_DATE_INDEX} ON embeddings (filter_date)`));
  console.log(`(${n} chunks: full-text and filter indexes built in ${((performance.now() - textStarted) / 1000).toFixed(1)} s)`);
  const indexStarted = performance.now();
  await buildHnswIndex(db, benchServerUrl ? undefined : "512MB");
  const indexSeconds = (performance.now() - indexStarted) / 1000;
  console.log(`(${n} vectors: index built by buildHnswIndex in ${indexSeconds.toFixed(1)} s)`);
  await db.execute(sql`ANALYZE embeddings`); // as the daily maintenance does

  return indexSeconds;
}

/** The rows the plan's full-text condition let through (the rows it ranked), summed over its nodes that read the table. */
function matchedRows(plan: Record<string, unknown>): number {
  const own = plan["Relation Name"] === "embeddings" ? Number(plan["Actual Rows"] ?? 0) * Number(plan["Actual Loops"] ?? 1) : 0;
  return own + ((plan.Plans as Record<string, unknown>[] | undefined) ?? []).reduce((sum, child) => sum + matchedRows(child), 0);
}

/** The filter shares measured, by the key whose rows they keep: row i has k4 when i is a multiple of 10,000, … */
export const FILTER_SHARES = [
  ["0.01%", "k4", 10_000],
  ["0.1%", "k3", 1000],
  ["1%", "k2", 100],
  ["10%", "k1", 10],
  ["100%", undefined, 1],
] as const;

const filtersOf = (i: number) =>
  JSON.stringify(Object.fromEntries(FILTER_SHARES.filter(([, key, every]) => key && i % every === 0).map(([, key]) => [key, true])));

/** The default registry, with the filter keys declared on the benchmark's two types (booleans: the columns name their kind). */
const benchRegistry = createRegistry(
  defaultRegistry.map((entry) =>
    entry.type === "post" || entry.type === "course"
      ? {
          ...entry,
          search: { ...entry.search, filters: { k1: course.published, k2: course.published, k3: course.published, k4: course.published } },
        }
      : entry,
  ),
);

/** Recall@10 of filtered vector search against the exact top 10 of the same rows, and its end-to-end latency, per share. */
async function measureFilteredRecall(deps: Deps, n: number, queries: number, random: () => number, vectorOf: (query: string) => number[]) {
  const results = [];
  for (const [share, key] of FILTER_SHARES) {
    const recalls: number[] = [];
    const times: number[] = [];
    for (let q = 0; q < queries; q++) {
      const query = realisticText(random).slice(0, 60);
      const started = performance.now();
      const answer = await search(
        deps,
        { query, limit: 10, minScore: -1, mode: "vector", ...(key ? { filters: { [key]: true } } : {}) },
        "admin",
      );
      times.push(performance.now() - started);
      const vector = JSON.stringify(vectorOf(query));
      const exact = await deps.db.transaction(async (tx) => {
        await tx.execute(sql`SET LOCAL enable_indexscan = off`);
        return rowsOf<{ content_type: string; content_id: string }>(
          tx.execute(sql`SELECT content_type, content_id FROM embeddings ${key ? sql`WHERE filters @> ${JSON.stringify({ [key]: true })}::jsonb` : sql``}
            ORDER BY embedding <=> ${vector}::vector LIMIT 10`),
        );
      });
      const found = new Set(answer.results.map((hit) => `${hit.contentType}/${hit.contentId}`));
      recalls.push(exact.filter((row) => found.has(`${row.content_type}/${row.content_id}`)).length / Math.max(1, exact.length));
    }
    results.push({
      share,
      rows: key ? Math.ceil(n / FILTER_SHARES.find(([s]) => s === share)![2]) : n,
      recallAt10: recalls.reduce((a, b) => a + b, 0) / recalls.length,
      minRecall: Math.min(...recalls),
      ms: { p50: percentile(times, 50), p95: percentile(times, 95) },
    });
  }
  return results;
}
