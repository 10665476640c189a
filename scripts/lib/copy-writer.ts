// A first load's writer (`npm run backfill -- --drain`): the drain's rows go by binary COPY instead of
// the upsert's text, so that neither this process prints 1,536 numbers a row nor the server parses
// them (BENCHMARKS.md §0: 1,000 dense rows in ~0.1 s against ~0.5 s for COPY of their text). Node only;
// the functions keep the upsert, which runs on every driver.
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { drizzle } from "drizzle-orm/node-postgres";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import * as schema from "../../schema";
import type { Database } from "../../functions/db/database";
import { type ChunkWriter, type EmbeddedChunk, type EmbeddingModel, upsertChunks } from "../../functions/core/store";
import { postgresCode } from "../../functions/lib/errors";
import { type CopyField, copyBinary } from "./copy-binary";

/** A database handle on one connection, and a writer that COPYs over that same connection. */
export type CopySession = { db: Database; writeChunks: ChunkWriter; release(): void };

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
];

const COPY_EMBEDDINGS = `COPY embeddings (${EMBEDDING_COLUMNS.join(", ")}) FROM STDIN (FORMAT binary)`;

/** A row's fields for binary COPY, in EMBEDDING_COLUMNS' order. */
export const embeddingFields = (row: EmbeddedChunk, model: EmbeddingModel): CopyField[] => [
  { text: row.contentType },
  { text: row.contentId },
  { int4: row.chunkIndex },
  { text: row.text },
  { text: row.hash },
  { text: model.model },
  { int4: model.dimensions },
  { vector: row.embedding },
];

/** unique_violation: a row of these keys is stored already (COPY inserts, it cannot update). */
const UNIQUE_VIOLATION = "23505";

/**
 * Takes a connection from the pool for one drain run. The writer's COPY must run inside the run's
 * write transaction (under its item locks, committed with its settlement), so the run's every
 * statement goes over this connection: the handle is a Drizzle instance on it, not on the pool.
 */
export async function copySession(pool: pg.Pool): Promise<CopySession> {
  const client = await pool.connect();
  return {
    db: drizzle({ client, schema }) as unknown as Database,
    writeChunks: copyChunkWriter(client),
    release: () => client.release(),
  };
}

/**
 * COPY, in a savepoint: into keys nobody stored, the rows an upsert would insert. A key stored
 * already (by a webhook delivery during the load, say) fails the COPY with a unique violation; the
 * savepoint is rolled back and the same rows go by the upsert, in the same transaction. `client` must
 * be the connection of the transaction the writer is handed.
 */
export function copyChunkWriter(client: pg.ClientBase): ChunkWriter {
  return async (tx, rows, model) => {
    try {
      await tx.transaction(async () => {
        const data = copyBinary(rows.map((row) => embeddingFields(row, model)));
        await pipeline(Readable.from([data]), client.query(copyFrom(COPY_EMBEDDINGS)));
      });
    } catch (error) {
      if (postgresCode(error) !== UNIQUE_VIOLATION) throw error;
      await upsertChunks(tx, rows, model);
    }
  };
}
