// Stage 6: write what changed, set-based, inside the caller's transaction: upsert changed chunks,
// then delete chunk indexes past each item's new count (a count of 0 deletes the item's embeddings).
import { and, eq, inArray, sql } from "drizzle-orm";
import { embeddings } from "../../schema/pipeline-tables.js";
import type { Database } from "../db/database.js";
import { float32Vector } from "../db/float32.js";
import { compareItems, groupBy, type Item } from "./item.js";

export type Chunk = Item & { chunkIndex: number; text: string; hash: string };
export type EmbeddedChunk = Chunk & { embedding: number[] };

/** Rows per INSERT: a drain batch's in one statement (8 parameters a row, far under Postgres's 65,535). */
const INSERT_BATCH = 1000;

/** The stored hash of every chunk of these items, keyed by item key and chunk index. */
export async function storedHashes(db: Database, items: Item[]): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  const byType = groupBy(items, (item) => item.contentType);
  for (const [contentType, group] of byType) {
    const rows = await db
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
      );
    for (const row of rows) hashes.set(chunkKey({ contentType, contentId: row.id, chunkIndex: row.index }), row.hash);
  }
  return hashes;
}

export const chunkKey = (c: Item & { chunkIndex: number }) => `${c.contentType}\u0000${c.contentId}\u0000${c.chunkIndex}`;

/** Call inside a transaction: the upserts and deletes land together or not at all. */
export async function storeEmbeddings(
  tx: Database,
  changed: EmbeddedChunk[],
  chunkCounts: (Item & { count: number })[],
  model: { model: string; dimensions: number },
): Promise<{ deletedChunks: number }> {
  // In key order, like every writer's: rows locked in one global order never wait on each other in a cycle.
  const sorted = [...changed].sort((a, b) => compareItems(a, b) || a.chunkIndex - b.chunkIndex);
  for (let i = 0; i < sorted.length; i += INSERT_BATCH) {
    await tx
      .insert(embeddings)
      .values(
        sorted.slice(i, i + INSERT_BATCH).map((c) => ({
          contentType: c.contentType,
          contentId: c.contentId,
          chunkIndex: c.chunkIndex,
          chunkText: c.text,
          contentHash: c.hash,
          model: model.model,
          dimensions: model.dimensions,
          embedding: float32Vector(c.embedding),
        })),
      )
      .onConflictDoUpdate({
        target: [embeddings.contentType, embeddings.contentId, embeddings.chunkIndex],
        set: {
          chunkText: sql`excluded.chunk_text`,
          contentHash: sql`excluded.content_hash`,
          model: sql`excluded.model`,
          dimensions: sql`excluded.dimensions`,
          embedding: sql`excluded.embedding`,
          updatedAt: sql`now()`,
        },
      });
  }
  if (chunkCounts.length === 0) return { deletedChunks: 0 };
  const counts = sql.join(
    chunkCounts.map((c) => sql`(${c.contentType}::text, ${c.contentId}::text, ${c.count}::int)`),
    sql`, `,
  );
  const deleted = await tx
    .delete(embeddings)
    .where(sql`(${embeddings.contentType}, ${embeddings.contentId}, ${embeddings.chunkIndex}) IN (
      SELECT e.content_type, e.content_id, e.chunk_index FROM embeddings e
      JOIN (VALUES ${counts}) AS kept(content_type, content_id, count)
        ON e.content_type = kept.content_type AND e.content_id = kept.content_id AND e.chunk_index >= kept.count)`)
    .returning({ id: embeddings.id });
  return { deletedChunks: deleted.length };
}
