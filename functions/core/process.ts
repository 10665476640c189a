// The processing core shared by process-webhook and the drain (DESIGN.md section 1, "Processing"):
// load → format → chunk → hash → skip unchanged → embed → store. Reading each row as it is now makes
// duplicate and out-of-order deliveries converge.
import { sql } from "drizzle-orm";
import { normalizeId, type Registry } from "../../schema/registry";
import { rowsOf } from "../db/database";
import type { Database } from "../db/database";
import type { Embedder } from "../embedders/embedder";
import { resolveSettled } from "../queue/failures";
import { chunkText, DEFAULT_CHUNKING, type ChunkOptions } from "./chunk";
import { embedChunks } from "./embed";
import { formatRows } from "./format";
import { contentHash } from "./hash";
import { type FailedItem, type Item, uniqueItems } from "./item";
import { loadRows } from "./load";
import { chunkKey, storedHashes, storeEmbeddings, type Chunk } from "./store";

export type ProcessDeps = { db: Database; embedder: Embedder; registry: Registry; chunking?: ChunkOptions };

export type ProcessResult = {
  items: number;
  /** Chunks sent to the embedding API. */
  embedded: number;
  /** Chunks whose stored embedding was already current. */
  unchanged: number;
  /** Items whose row is gone or filtered out, so their embeddings were removed. */
  deleted: number;
  /** Items a retry cannot fix; the caller records them. */
  failed: FailedItem[];
};

/** Brings the embeddings of these items up to date. Throws TransientError when a retry may help. */
export async function processItems(deps: ProcessDeps, items: Item[]): Promise<ProcessResult> {
  const { db, embedder, registry } = deps;
  // Read from the database clock: rows are loaded after this instant, so they hold every change before it.
  const [{ now: started } = { now: new Date() }] = await rowsOf<{ now: Date }>(db.execute(sql`SELECT now() AS now`));
  const unique = uniqueItems(items.map((item) => {
    const entry = registry.byType(item.contentType);
    return entry ? { ...item, contentId: normalizeId(entry, item.contentId) } : item;
  }));
  const loaded = await loadRows(db, registry, unique);
  const { documents, empty } = formatRows(loaded.found);

  const chunks: Chunk[] = [];
  const chunkCounts: (Item & { count: number })[] = [];
  for (const { item, text } of documents) {
    const texts = chunkText(text, deps.chunking ?? DEFAULT_CHUNKING);
    chunkCounts.push({ ...item, count: texts.length });
    for (const [chunkIndex, chunk] of texts.entries()) {
      chunks.push({ ...item, chunkIndex, text: chunk, hash: await contentHash(chunk, embedder.model, embedder.dimensions) });
    }
  }
  const stored = await storedHashes(db, documents.map((d) => d.item));
  const changed = chunks.filter((chunk) => stored.get(chunkKey(chunk)) !== chunk.hash);
  const embedded = await embedChunks(embedder, changed);

  for (const item of [...loaded.gone, ...empty]) {
    chunkCounts.push({ contentType: item.contentType, contentId: item.contentId, count: 0 });
  }
  await storeEmbeddings(db, embedded, chunkCounts, embedder);
  await resolveSettled(db, [...documents.map((d) => d.item), ...loaded.gone], new Date(started));
  return {
    items: unique.length,
    embedded: changed.length,
    unchanged: chunks.length - changed.length,
    deleted: loaded.gone.length,
    failed: [...loaded.failed, ...empty],
  };
}
