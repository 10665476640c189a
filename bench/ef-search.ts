// What hnsw.ef_search buys in recall, and costs in time, on the clustered corpus (bench/clustered.ts) of
// the search benchmark: recall@10 of the unfiltered HNSW scan (search's own settings, then ef_search
// set) against an exact scan, and the server's execution time (EXPLAIN ANALYZE), per ef_search.
// A parallel HNSW build is not deterministic, and a build may leave a query stranded in the wrong
// cluster that the next build does not: the index is built `builds` times over the same rows (once
// loaded, the exact answers once computed), for each of `variants` (m and ef_construction; the
// defaults' when empty). The figures behind search's ef_search (functions/search.ts, `MIN_EF_SEARCH`).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { sql } from "drizzle-orm";
import { loadConfig } from "../functions/config";
import { rowsOf } from "../functions/db/database";
import { buildHnswIndex, dropHnswIndex, type HnswParameters } from "../functions/db/hnsw-index";
import { applySearchSettings, nearestChunks } from "../functions/search";
import { HNSW_INDEX } from "../schema";
import { openBenchDatabase } from "./bench-database";
import { clusteredCorpus } from "./clustered";
import { percentile, realisticText, seededRandom } from "./corpus";
import { buildIndexes, loadChunks } from "./search-latency";

export type EfSearchOptions = { queries?: number; builds?: number; variants?: HnswParameters[] };

export async function efSearchSweep(n: number, values: number[], { queries = 100, builds = 1, variants = [{}] }: EfSearchOptions = {}) {
  const connection = await openBenchDatabase();
  const { db } = connection;
  const random = seededRandom(n + 1);
  const corpus = clusteredCorpus(n + 7, 1536);
  try {
    await loadChunks(connection, n, random, corpus);
    const firstBuildSeconds = await buildIndexes(connection, n);
    const exactLimit = loadConfig({}).search.exactLimit;
    const vectors = Array.from({ length: queries }, () => corpus.vectorOf(realisticText(random).slice(0, 60)));
    // The exact answers depend only on the seeded rows and queries: BENCH_EF_SEARCH_EXACT names a file
    // that keeps them between runs (each exact scan of 100,000 vectors takes a second or two).
    const cache = process.env.BENCH_EF_SEARCH_EXACT;
    const cached = cache && existsSync(cache) ? (JSON.parse(readFileSync(cache, "utf8")) as { n: number; exact: string[][] }) : undefined;
    const exact: string[][] = cached?.n === n ? cached.exact.slice(0, queries) : [];
    for (const vector of vectors.slice(exact.length)) {
      const rows = await db.transaction(async (tx) => {
        await tx.execute(sql`SELECT set_config('enable_indexscan', 'off', true)`);
        return rowsOf<{ content_id: string }>(
          tx.execute(sql`SELECT content_id FROM embeddings ORDER BY embedding <=> ${JSON.stringify(vector)}::vector LIMIT 10`),
        );
      });
      exact.push(rows.map((r) => r.content_id));
    }
    if (cache && exact.length > (cached?.exact.length ?? 0)) writeFileSync(cache, JSON.stringify({ n, exact }));
    const results = [];
    for (const variant of variants) {
      for (let build = 1; build <= builds; build++) {
        // buildIndexes built the first index at the defaults; every other is built here.
        let buildSeconds = firstBuildSeconds;
        if (build > 1 || variant !== variants[0] || variant.m !== undefined || variant.efConstruction !== undefined) {
          await dropHnswIndex(db);
          const started = performance.now();
          await buildHnswIndex(db, undefined, variant);
          buildSeconds = (performance.now() - started) / 1000;
          await db.execute(sql`ANALYZE embeddings`);
        }
        const [size] = await rowsOf<{ bytes: number }>(db.execute(sql`SELECT pg_relation_size(${HNSW_INDEX}::regclass)::float8 AS bytes`));
        for (const ef of values) {
          const recalls: number[] = [];
          const execution: number[] = [];
          for (const [q, vector] of vectors.entries()) {
            await db.transaction(async (tx) => {
              await applySearchSettings(tx, undefined, 40, exactLimit);
              await tx.execute(sql`SELECT set_config('hnsw.ef_search', ${String(ef)}, true)`);
              const rows = await rowsOf<{ content_id: string }>(tx.execute(nearestChunks(vector, undefined, 40)));
              const found = new Set(rows.slice(0, 10).map((r) => r.content_id));
              recalls.push(exact[q]!.filter((id) => found.has(id)).length / exact[q]!.length);
              const plan = await rowsOf<{ "QUERY PLAN": [{ "Execution Time": number }] }>(
                tx.execute(sql`EXPLAIN (ANALYZE, FORMAT JSON) ${nearestChunks(vector, undefined, 40)}`),
              );
              execution.push(plan[0]!["QUERY PLAN"][0]["Execution Time"]);
            });
          }
          results.push({
            m: variant.m ?? 16,
            efConstruction: variant.efConstruction ?? 64,
            build,
            buildSeconds,
            indexMegabytes: size!.bytes / 2 ** 20,
            efSearch: ef,
            recall: recalls.reduce((a, b) => a + b, 0) / recalls.length,
            minRecall: Math.min(...recalls),
            below: recalls.filter((r) => r < 0.98).length,
            zero: recalls.filter((r) => r === 0).length,
            executionMs: { p50: percentile(execution, 50), p95: percentile(execution, 95) },
          });
        }
      }
    }
    return results;
  } finally {
    await connection.close();
  }
}
