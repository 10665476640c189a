// What makes PGlite's HNSW inserts faster: the same vectors inserted one statement of 100 rows at a
// time into `embeddings` under different indexes, or none, and the index built after the load.
import { sql } from "drizzle-orm";
import { buildHnswIndex, dropHnswIndex } from "../functions/db/hnsw-index";
import { embedLocally } from "../functions/embedders/local";
import { openPglite } from "../scripts/lib/database";
import { realisticText, seededRandom } from "./corpus";

const VARIANTS: [name: string, index: string | undefined][] = [
  ["HNSW default (m 16, ef_construction 64)", "USING hnsw (embedding vector_cosine_ops)"],
  ["HNSW ef_construction 32", "USING hnsw (embedding vector_cosine_ops) WITH (ef_construction = 32)"],
  ["HNSW m 8, ef_construction 32", "USING hnsw (embedding vector_cosine_ops) WITH (m = 8, ef_construction = 32)"],
  ["halfvec HNSW default", "USING hnsw ((embedding::halfvec(1536)) halfvec_cosine_ops)"],
  ["no index", undefined],
];

export async function hnswVariants(n: number) {
  const random = seededRandom(n + 3);
  const vectors = Array.from({ length: n }, () => JSON.stringify(embedLocally(realisticText(random), 1536)));
  const results: { variant: string; seconds: number }[] = [];
  const insertAll = async (db: Awaited<ReturnType<typeof openPglite>>["db"]) => {
    for (let i = 0; i < n; i += 100) {
      const rows = vectors.slice(i, i + 100).map((v, j) => sql`('post', ${String(i + j)}, 0, 't', 'h', 'm', 1536, ${v}::vector)`);
      await db.execute(
        sql`INSERT INTO embeddings (content_type, content_id, chunk_index, chunk_text, content_hash, model, dimensions, embedding) VALUES ${sql.join(rows, sql`, `)}`,
      );
    }
  };
  for (const [variant, index] of VARIANTS) {
    const connection = await openPglite();
    await connection.migrate();
    await dropHnswIndex(connection.db);
    if (index) await connection.db.execute(sql.raw(`CREATE INDEX variant ON embeddings ${index}`));
    const started = performance.now();
    await insertAll(connection.db);
    results.push({ variant: `${n} inserts, ${variant}`, seconds: (performance.now() - started) / 1000 });
    if (!index) {
      const built = performance.now();
      await buildHnswIndex(connection.db);
      results.push({ variant: `building the default index after those ${n} inserts`, seconds: (performance.now() - built) / 1000 });
    }
    await connection.close();
  }
  return results;
}
