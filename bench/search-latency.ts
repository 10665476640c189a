// Top-10 search latency at 10k and 50k stored vectors (two thirds posts, a third courses): database
// time and end to end, unfiltered and for courses only.
import { sql } from "drizzle-orm";
import { loadConfig } from "../functions/config";
import type { Deps } from "../functions/deps";
import { embedLocally, localEmbedder } from "../functions/embedders/local";
import { rowsOf } from "../functions/db/database";
import { applySearchSettings, nearestChunks, search } from "../functions/search";
import { HNSW_INDEX } from "../schema";
import { createRegistry } from "../schema/registry";
import { openPglite } from "../scripts/lib/database";
import { buildHnswIndex, dropHnswIndex } from "../scripts/lib/initial-load";
import { percentile, realisticText, seededRandom } from "./corpus";

export async function searchLatency(n: number, queries = 100) {
  const connection = await openPglite();
  await connection.migrate();
  const { db, pglite } = connection;
  const random = seededRandom(n + 1);
  const embedder = localEmbedder(1536);
  try {
    // Load without the index, then build it: the fast way to reach n vectors (see BENCHMARKS.md).
    await dropHnswIndex(db);
    for (let i = 0; i < n; i += 500) {
      const values = Array.from({ length: Math.min(500, n - i) }, (_, j) => {
        const text = realisticText(random);
        return sql`(${(i + j) % 3 ? "post" : "course"}, ${String(i + j)}, 0, ${text}, ${"h"}, ${embedder.model}, 1536, ${JSON.stringify(embedLocally(text, 1536))}::vector)`;
      });
      await db.execute(sql`INSERT INTO embeddings (content_type, content_id, chunk_index, chunk_text, content_hash, model, dimensions, embedding) VALUES ${sql.join(values, sql`, `)}`);
    }
    const indexStarted = performance.now();
    await buildHnswIndex(db, "512MB");
    const indexSeconds = (performance.now() - indexStarted) / 1000;
    await pglite!.exec("ANALYZE embeddings"); // as the daily maintenance does

    const deps: Deps = { db, embedder, registry: createRegistry(), config: loadConfig({}) };
    const database: number[] = [];
    const endToEnd: number[] = [];
    const filtered: number[] = [];
    for (let q = 0; q < queries; q++) {
      const query = realisticText(random).slice(0, 60);
      const vector = embedLocally(query, 1536);
      const t0 = performance.now();
      await db.transaction(async (tx) => {
        await applySearchSettings(tx, undefined, 40, deps.config.search.exactLimit);
        await tx.execute(nearestChunks(vector, undefined, 40));
      });
      database.push(performance.now() - t0);
      const t1 = performance.now();
      await search(deps, { query, limit: 10, minScore: 0 }, "admin");
      endToEnd.push(performance.now() - t1);
      const t2 = performance.now();
      await search(deps, { query, types: ["course"], limit: 10, minScore: 0 }, "admin");
      filtered.push(performance.now() - t2);
    }
    const plan = await db.transaction(async (tx) => {
      await applySearchSettings(tx, ["post"], 40, deps.config.search.exactLimit);
      return rowsOf<{ "QUERY PLAN": string }>(tx.execute(sql`EXPLAIN ${nearestChunks(embedLocally("x", 1536), ["post"], 40)}`));
    });
    return {
      n, indexBuildSeconds: indexSeconds, usesIndex: plan.some((r) => r["QUERY PLAN"].includes(HNSW_INDEX)),
      databaseMs: { p50: percentile(database, 50), p95: percentile(database, 95) },
      endToEndMs: { p50: percentile(endToEnd, 50), p95: percentile(endToEnd, 95) },
      filteredMs: { p50: percentile(filtered, 50), p95: percentile(filtered, 95) },
    };
  } finally {
    await connection.close();
  }
}
