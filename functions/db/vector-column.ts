// The configured dimensions against the database as it is: a mismatch would fail every write and
// every search, so start-up says so instead.
import { sql } from "drizzle-orm";
import type { VectorStorage } from "../../schema/pipeline-tables.js";
import { ConfigError } from "../lib/errors.js";
import { type Database, rowsOf } from "./database.js";

/** Throws a ConfigError when the embeddings column holds vectors of another size than `dimensions`. */
export async function checkVectorColumn(db: Database, dimensions: number): Promise<void> {
  const [column] = await rowsOf<{ size: number }>(
    db.execute(sql`SELECT atttypmod AS size FROM pg_attribute
    WHERE attrelid = to_regclass('embeddings') AND attname = 'embedding' AND NOT attisdropped`),
  );
  if (column && column.size > 0 && column.size !== dimensions) {
    throw new ConfigError(
      `The embeddings column is vector(${column.size}) but the embedder makes ${dimensions} dimensions: ` +
        `every write and search would fail. Make them match (README "Changing model or dimensions").`,
    );
  }
}

/** The serving table's vector column: its type ('vector' or 'halfvec') and size. */
export async function servingColumn(db: Database, table = "embeddings"): Promise<{ storage: VectorStorage; dimensions: number }> {
  const [row] = await rowsOf<{ type: string; size: number }>(
    db.execute(sql`SELECT t.typname AS type, a.atttypmod AS size FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = to_regclass(${table}) AND a.attname = 'embedding' AND NOT a.attisdropped`),
  );
  return { storage: row?.type === "halfvec" ? "halfvec" : "vector", dimensions: row?.size ?? 0 };
}
