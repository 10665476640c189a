// What hnsw.ef_search buys in recall, and costs in time, on the clustered corpus (bench/clustered.ts) of
// the search benchmark: recall@10 of the unfiltered HNSW scan (search's own settings, then ef_search
// set) against an exact scan, and the server's execution time (EXPLAIN ANALYZE), per ef_search.
// The figures behind search's ef_search (functions/search.ts, `applySearchSettings`).
import { sql } from "drizzle-orm";
import { loadConfig } from "../functions/config";
import { rowsOf } from "../functions/db/database";
import { applySearchSettings, nearestChunks } from "../functions/search";
import { openBenchDatabase } from "./bench-database";
import { clusteredCorpus } from "./clustered";
import { percentile, realisticText, seededRandom } from "./corpus";
import { buildIndexes, loadChunks } from "./search-latency";

export async function efSearchSweep(n: number, values: number[], queries = 100) {
  const connection = await openBenchDatabase();
  const { db } = connection;
  const random = seededRandom(n + 1);
  const corpus = clusteredCorpus(n + 7, 1536);
  try {
    await loadChunks(connection, n, random, corpus);
    await buildIndexes(connection, n);
    const exactLimit = loadConfig({}).search.exactLimit;
    const vectors = Array.from({ length: queries }, () => corpus.vectorOf(realisticText(random).slice(0, 60)));
    const exact: string[][] = [];
    for (const vector of vectors) {
      const rows = await db.transaction(async (tx) => {
        await tx.execute(sql`SELECT set_config('enable_indexscan', 'off', true)`);
        return rowsOf<{ content_id: string }>(
          tx.execute(sql`SELECT content_id FROM embeddings ORDER BY embedding <=> ${JSON.stringify(vector)}::vector LIMIT 10`),
        );
      });
      exact.push(rows.map((r) => r.content_id));
    }
    const results = [];
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
        efSearch: ef,
        recall: recalls.reduce((a, b) => a + b, 0) / recalls.length,
        minRecall: Math.min(...recalls),
        below: recalls.filter((r) => r < 0.98).length,
        executionMs: { p50: percentile(execution, 50), p95: percentile(execution, 95) },
      });
    }
    return results;
  } finally {
    await connection.close();
  }
}
