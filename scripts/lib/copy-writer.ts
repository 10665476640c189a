// A first load's writer (`npm run backfill -- --drain`): the drain's rows go by binary COPY instead of
// the upsert's text, so that neither this process prints 1,536 numbers a row nor the server parses
// them (BENCHMARKS.md §0: 1,000 dense rows in ~0.1 s against ~0.5 s for COPY of their text). Node only;
// the functions keep the upsert, which runs on every driver.
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { NO_FILTERS } from "../../functions/core/filters";
import { type ChunkWriter, type EmbeddedChunk, type EmbeddingModel, type EmbeddingWriter, upsertChunks } from "../../functions/core/store";
import { type Database, rowsOf } from "../../functions/db/database";
import { postgresCode } from "../../functions/lib/errors";
import * as schema from "../../schema";
import { type CopyField, copyBinary } from "./copy-binary";

/** A writer whose transactions run on one connection of their own and COPY over it; `release` closes that connection. */
export type CopySession = { writer: EmbeddingWriter; release(): void };

/** The columns a write fills, in `embeddingFields`' order (the others have defaults). */
export const EMBEDDING_COLUMNS = [
  "content_type",
  "content_id",
  "chunk_index",
  "chunk_text",
  "content_hash",
  "model",
  "dimensions",
  "embedding",
  "text_config",
  "filters",
  "filter_date",
];

const COPY_EMBEDDINGS = `COPY embeddings (${EMBEDDING_COLUMNS.join(", ")}) FROM STDIN (FORMAT binary)`;

/**
 * A row's fields for binary COPY, in EMBEDDING_COLUMNS' order. Its text search configuration goes as
 * the OID `textConfigOid` gives (binary COPY of a regconfig is its OID); text_search is generated.
 */
export const embeddingFields = (row: EmbeddedChunk, model: EmbeddingModel, textConfigOid: (name: string) => number): CopyField[] => [
  { text: row.contentType },
  { text: row.contentId },
  { int4: row.chunkIndex },
  { text: row.text },
  { text: row.hash },
  { text: model.model },
  { int4: model.dimensions },
  { vector: row.embedding },
  { oid: textConfigOid(row.textConfig) },
  { jsonb: JSON.stringify((row.filters ?? NO_FILTERS).values) },
  { timestamptz: (row.filters ?? NO_FILTERS).date },
];

/** The OIDs of these text search configurations, looked up on `tx` once each and kept in `known`. */
export async function textConfigOids(tx: Database, names: string[], known: Map<string, number>): Promise<(name: string) => number> {
  for (const name of new Set(names)) {
    if (known.has(name)) continue;
    const [row] = await rowsOf<{ oid: number }>(tx.execute(sql`SELECT ${name}::regconfig::oid::int8 AS oid`));
    known.set(name, Number(row!.oid));
  }
  return (name) => known.get(name)!;
}

/** unique_violation: a row of these keys is stored already (COPY inserts, it cannot update). */
const UNIQUE_VIOLATION = "23505";

/**
 * Takes a connection from the pool for one drain run's write transactions. COPY must run inside the
 * write transaction (under its item locks, committed with its settlement), so that transaction runs
 * on this connection (a Drizzle instance on it, not on the pool); the run's other statements (claim,
 * settle, putting a failed batch back in line) stay on the pool, so a dropped connection fails only
 * a write, which the drain retries. Released by closing it: it may be the one that dropped.
 */
export async function copySession(pool: pg.Pool): Promise<CopySession> {
  const client = await pool.connect();
  return {
    writer: { db: drizzle({ client, schema }) as unknown as Database, write: copyChunkWriter(client) },
    release: () => client.release(true),
  };
}

/**
 * Rows of keys stored when the batch was read go by the upsert (COPY cannot update). The others go by
 * COPY, in a savepoint: a key stored since (by a webhook delivery during the load, say) fails it with
 * a unique violation, the savepoint is rolled back and those rows go by the upsert too, in the same
 * transaction. `client` must be the connection of the transaction the writer is handed.
 */
export function copyChunkWriter(client: pg.ClientBase): ChunkWriter {
  const oids = new Map<string, number>();
  return async (tx, rows, model) => {
    const stored = rows.filter((row) => row.stored);
    const fresh = rows.filter((row) => !row.stored);
    if (stored.length > 0) await upsertChunks(tx, stored, model);
    if (fresh.length === 0) return;
    try {
      await tx.transaction(async () => {
        const oid = await textConfigOids(
          tx,
          fresh.map((row) => row.textConfig),
          oids,
        );
        const data = copyBinary(fresh.map((row) => embeddingFields(row, model, oid)));
        await pipeline(Readable.from([data]), client.query(copyFrom(COPY_EMBEDDINGS)));
      });
    } catch (error) {
      if (postgresCode(error) !== UNIQUE_VIOLATION) throw error;
      await upsertChunks(tx, fresh, model);
    }
  };
}
