// Hidden rows keep their vectors out of search: a row that exists but may not be shown (its filter,
// a hidden parent) has its chunks moved to hidden_embeddings; shown again with the same text, each
// chunk whose hash still matches comes back without an embedding call (hiding and showing a course
// no longer re-embeds its lessons). Only hashes and vectors are kept, no text.
import { and, eq, inArray, type SQL, sql } from "drizzle-orm";
import { embeddings, hiddenEmbeddings } from "../../schema/pipeline-tables.js";
import type { Database } from "../db/database.js";
import { groupBy, type Item } from "../lib/item.js";
import { type Chunk, chunkKey } from "./store.js";

const itemsIn = (items: Item[], type: SQL, id: SQL) =>
  sql`(${type}, ${id}) IN (VALUES ${sql.join(
    items.map((i) => sql`(${i.contentType}::text, ${i.contentId}::text)`),
    sql`, `,
  )})`;

/**
 * Inside the caller's transaction, before the items' embeddings are deleted: keeps the hidden items'
 * chunks that match their current text (`current`, chunked and hashed as the row reads now), and drops
 * any other they had kept (an edit while hidden must not leave the old text's vectors behind).
 */
export async function hideChunks(tx: Database, items: Item[], current: Chunk[]): Promise<void> {
  if (items.length === 0) return;
  await tx.execute(sql`INSERT INTO ${hiddenEmbeddings} (content_type, content_id, chunk_index, content_hash, model, embedding)
    SELECT e.content_type, e.content_id, e.chunk_index, e.content_hash, e.model, e.embedding FROM ${embeddings} e
    WHERE ${itemsIn(items, sql`e.content_type`, sql`e.content_id`)}
    ORDER BY e.content_type, e.content_id, e.chunk_index
    ON CONFLICT (content_type, content_id, chunk_index) DO UPDATE SET
      content_hash = excluded.content_hash, model = excluded.model, embedding = excluded.embedding, created_at = now()`);
  const kept = current.length
    ? sql` AND (h.content_type, h.content_id, h.chunk_index, h.content_hash) NOT IN (VALUES ${sql.join(
        current.map((c) => sql`(${c.contentType}::text, ${c.contentId}::text, ${c.chunkIndex}::int, ${c.hash}::text)`),
        sql`, `,
      )})`
    : sql``;
  await tx.execute(sql`DELETE FROM ${hiddenEmbeddings} h WHERE ${itemsIn(items, sql`h.content_type`, sql`h.content_id`)}${kept}`);
}

/** Inside the caller's transaction: the items are shown again or gone, so nothing of them stays hidden. */
export async function dropHidden(tx: Database, items: Item[]): Promise<void> {
  if (items.length === 0) return;
  await tx.delete(hiddenEmbeddings).where(itemsIn(items, sql`${hiddenEmbeddings.contentType}`, sql`${hiddenEmbeddings.contentId}`));
}

/** The kept vectors of these chunks whose hash matches, by chunk key: what need not be embedded again. */
export async function hiddenVectors(db: Database, chunks: Chunk[]): Promise<Map<string, number[]>> {
  const found = new Map<string, number[]>();
  const wanted = new Map(chunks.map((c) => [chunkKey(c), c.hash]));
  for (const [contentType, group] of groupBy(chunks, (c) => c.contentType)) {
    const rows = await db
      .select({
        id: hiddenEmbeddings.contentId,
        index: hiddenEmbeddings.chunkIndex,
        hash: hiddenEmbeddings.contentHash,
        embedding: hiddenEmbeddings.embedding,
      })
      .from(hiddenEmbeddings)
      .where(
        and(
          eq(hiddenEmbeddings.contentType, contentType),
          inArray(hiddenEmbeddings.contentId, [...new Set(group.map((c) => c.contentId))]),
        ),
      );
    for (const row of rows) {
      const key = chunkKey({ contentType, contentId: row.id, chunkIndex: row.index });
      if (wanted.get(key) === row.hash) found.set(key, row.embedding);
    }
  }
  return found;
}
