// Stage 6: write what changed, set-based, inside the caller's transaction: upsert changed chunks,
// then delete chunk indexes past each item's new count (a count of 0 deletes the item's embeddings).
import { and, eq, inArray, sql } from "drizzle-orm";
import { embeddings } from "../../schema/pipeline-tables.js";
import { type Database, rowsOf } from "../db/database.js";
import { float32Vector } from "../db/float32.js";
import { compareItems, groupBy, type Item } from "../lib/item.js";
import { type ChunkFilters, NO_FILTERS } from "./filters.js";

/**
 * `textConfig`: its type's text search configuration (registry `search.textConfig`); `filters`: its row's
 * search filter fields (filters.ts); both stored beside it.
 */
export type Chunk = Item & { chunkIndex: number; text: string; hash: string; textConfig: string; filters?: ChunkFilters };
/** How many chunks an item has now (0: none, its embeddings go), and its search filters when it has some. */
export type ChunkCount = Item & { count: number; filters?: ChunkFilters };
/** `stored`: a row of this key was stored when the batch was read (so writing it updates). */
export type EmbeddedChunk = Chunk & { embedding: number[]; stored?: boolean };

/** Rows per INSERT: a drain batch's in one statement. */
const INSERT_BATCH = 1000;

/**
 * Where a set's chunks live: `embeddings` (the serving set) or the shadow's table (functions/sets/),
 * which has the same columns.
 */
export const SERVING_TABLE = "embeddings";

/** The stored hash of every chunk of these items, keyed by item key and chunk index. */
export async function storedHashes(db: Database, items: Item[], table = SERVING_TABLE): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  const byType = groupBy(items, (item) => item.contentType);
  for (const [contentType, group] of byType) {
    const rows =
      table === SERVING_TABLE
        ? await db
            .select({ id: embeddings.contentId, index: embeddings.chunkIndex, hash: embeddings.contentHash })
            .from(embeddings)
            .where(
              and(
                eq(embeddings.contentType, contentType),
                inArray(
                  embeddings.contentId,
                  group.map((i) => i.contentId),
                ),
              ),
            )
        : await rowsOf<{ id: string; index: number; hash: string }>(
            db.execute(sql`SELECT content_id AS id, chunk_index AS index, content_hash AS hash FROM ${sql.identifier(table)}
              WHERE content_type = ${contentType} AND content_id IN (${sql.join(
                group.map((i) => sql`${i.contentId}`),
                sql`, `,
              )})`),
          );
    for (const row of rows) hashes.set(chunkKey({ contentType, contentId: row.id, chunkIndex: row.index }), row.hash);
  }
  return hashes;
}

export const chunkKey = (c: Item & { chunkIndex: number }) => `${c.contentType}\u0000${c.contentId}\u0000${c.chunkIndex}`;

export type EmbeddingModel = { model: string; dimensions: number };

/**
 * Writes these rows, new or changed, inside the caller's transaction and in the given order, as an
 * upsert does. `upsertChunks` unless a Node script hands in another (scripts/lib/copy-writer.ts).
 */
export type ChunkWriter = (tx: Database, rows: EmbeddedChunk[], model: EmbeddingModel, table?: string) => Promise<void>;

/** Where a batch's write transaction runs (`db`) and how its rows go (`write`), when not the upsert on the pipeline's own handle. */
export type EmbeddingWriter = {
  db: Database;
  write: ChunkWriter;
  /**
   * Items a write transaction, when not STORE_GROUP (core/process.ts): a first load with no HNSW index
   * writes its batch whole, as nothing costs it a lock held long, and 25-row COPYs cost it a third of its rate.
   */
  groupSize?: number;
};

/** Call inside a transaction: the upserts and deletes land together or not at all. */
export async function storeEmbeddings(
  tx: Database,
  changed: EmbeddedChunk[],
  chunkCounts: ChunkCount[],
  model: EmbeddingModel,
  write: ChunkWriter = upsertChunks,
  table = SERVING_TABLE,
): Promise<{ deletedChunks: number }> {
  // In key order, like every writer's: rows locked in one global order never wait on each other in a cycle.
  const sorted = [...changed].sort((a, b) => compareItems(a, b) || a.chunkIndex - b.chunkIndex);
  for (let i = 0; i < sorted.length; i += INSERT_BATCH) await write(tx, sorted.slice(i, i + INSERT_BATCH), model, table);
  if (chunkCounts.length === 0) return { deletedChunks: 0 };
  await refilter(
    tx,
    chunkCounts.filter((c) => c.count > 0 && c.filters),
    table,
  );
  const counts = sql.join(
    chunkCounts.map((c) => sql`(${c.contentType}::text, ${c.contentId}::text, ${c.count}::int)`),
    sql`, `,
  );
  const t = sql.identifier(table);
  const deleted = await rowsOf<{ id: number }>(
    tx.execute(sql`DELETE FROM ${t} WHERE (content_type, content_id, chunk_index) IN (
      SELECT e.content_type, e.content_id, e.chunk_index FROM ${t} e
      JOIN (VALUES ${counts}) AS kept(content_type, content_id, count)
        ON e.content_type = kept.content_type AND e.content_id = kept.content_id AND e.chunk_index >= kept.count)
      RETURNING id`),
  );
  return { deletedChunks: deleted.length };
}

/**
 * One INSERT … ON CONFLICT DO UPDATE of these rows, in their order. The rows go as one array literal a
 * column (text, cast on the server; the vectors as `vector[]` of their `[…]` text, float32 digits), seven
 * parameters whatever the row count: building them is a string join, where Drizzle's `values()`
 * maps each of 8 parameters a row through its column (each vector JSON-encoded) and names it in the
 * statement. The same on every driver (plain text parameters). `WITH ORDINALITY … ORDER BY` keeps the
 * rows in the given order, so they are inserted, and their keys locked, in that order.
 */
export const upsertChunks: ChunkWriter = async (tx, rows, model, table = SERVING_TABLE) => {
  // The vectors go as vector[]: a halfvec column takes them by pgvector's assignment cast.
  await tx.execute(sql`INSERT INTO ${sql.identifier(table)}
      (content_type, content_id, chunk_index, chunk_text, content_hash, model, dimensions, embedding, text_config, filters, filter_date)
    SELECT r.content_type, r.content_id, r.chunk_index, r.chunk_text, r.content_hash, ${model.model}::text, ${model.dimensions}::int, r.embedding, r.text_config, r.filters, r.filter_date
    FROM unnest(
      ${arrayLiteral(rows.map((r) => r.contentType))}::text[],
      ${arrayLiteral(rows.map((r) => r.contentId))}::text[],
      ${arrayLiteral(rows.map((r) => String(r.chunkIndex)))}::int[],
      ${arrayLiteral(rows.map((r) => r.text))}::text[],
      ${arrayLiteral(rows.map((r) => r.hash))}::text[],
      ${arrayLiteral(rows.map((r) => vectorText(r.embedding)))}::vector[],
      ${arrayLiteral(rows.map((r) => r.textConfig))}::regconfig[],
      ${arrayLiteral(rows.map((r) => JSON.stringify((r.filters ?? NO_FILTERS).values)))}::jsonb[],
      ${nullableArrayLiteral(rows.map((r) => (r.filters ?? NO_FILTERS).date))}::timestamptz[]
    ) WITH ORDINALITY AS r(content_type, content_id, chunk_index, chunk_text, content_hash, embedding, text_config, filters, filter_date, n)
    ORDER BY r.n
    ON CONFLICT (content_type, content_id, chunk_index) DO UPDATE SET
      chunk_text = excluded.chunk_text,
      content_hash = excluded.content_hash,
      model = excluded.model,
      dimensions = excluded.dimensions,
      embedding = excluded.embedding,
      text_config = excluded.text_config,
      filters = excluded.filters,
      filter_date = excluded.filter_date,
      updated_at = now()`);
};

/**
 * Sets the stored search filters of the items' chunks that differ from the row's (a lesson moved to
 * another course: its text, so its vectors, unchanged). In key order; rows already right are not touched.
 */
async function refilter(tx: Database, items: ChunkCount[], table: string) {
  if (items.length === 0) return;
  const sorted = [...items].sort(compareItems);
  await tx.execute(sql`UPDATE ${sql.identifier(table)} AS e SET filters = r.filters, filter_date = r.filter_date
    FROM unnest(
      ${arrayLiteral(sorted.map((r) => r.contentType))}::text[],
      ${arrayLiteral(sorted.map((r) => r.contentId))}::text[],
      ${arrayLiteral(sorted.map((r) => JSON.stringify((r.filters ?? NO_FILTERS).values)))}::jsonb[],
      ${nullableArrayLiteral(sorted.map((r) => (r.filters ?? NO_FILTERS).date))}::timestamptz[]
    ) AS r(content_type, content_id, filters, filter_date)
    WHERE e.content_type = r.content_type AND e.content_id = r.content_id
      AND (e.filters, e.filter_date) IS DISTINCT FROM (r.filters, r.filter_date)`);
}

/** A Postgres array literal of these strings, NULL where null. */
const nullableArrayLiteral = (values: (string | null)[]) =>
  `{${values.map((v) => (v === null ? "NULL" : `"${v.replace(/["\\]/g, "\\$&")}"`)).join(",")}}`;

/** A Postgres array literal of these strings: each quoted, `"` and `\\` escaped (no NULLs). */
export const arrayLiteral = (values: string[]) => `{${values.map((v) => `"${v.replace(/["\\]/g, "\\$&")}"`).join(",")}}`;

/**
 * pgvector's text form of a vector, each value with the digits of its float32 (float32.ts). JSON, as
 * Drizzle wrote it: V8's JSON.stringify of a number array is about 3× faster than `join(",")`.
 */
const vectorText = (vector: number[]) => JSON.stringify(float32Vector(vector));
