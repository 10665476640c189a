// The processing core shared by process-webhook and the drain (DESIGN.md section 1, "Processing"):
// load → format → chunk → hash → skip unchanged → embed → store. Reading each row as it is now makes
// duplicate and out-of-order deliveries converge.
import { normalizeId, type Registry } from "../../schema/registry";
import type { Database } from "../db/database";
import type { Embedder } from "../embedders/embedder";
import { pendingVersions, resolveSettled } from "../queue/failures";
import { lockItems, retryConflicts } from "../db/conflicts";
import { chunkText, DEFAULT_CHUNKING, type ChunkOptions } from "./chunk";
import { embedChunks } from "./embed";
import { formatRows } from "./format";
import { contentHash } from "./hash";
import { type FailedItem, type Item, itemKey, uniqueItems } from "./item";
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
  /** Items changed while being processed: left to the delivery of that change. */
  superseded: number;
  /** Items a retry cannot fix; the caller records them. */
  failed: FailedItem[];
};

/** Brings the embeddings of these items up to date. Throws TransientError when a retry may help. */
export async function processItems(deps: ProcessDeps, items: Item[]): Promise<ProcessResult> {
  const { db, embedder, registry } = deps;
  const unique = uniqueItems(items.map((item) => {
    const entry = registry.byType(item.contentType);
    return entry ? { ...item, contentId: normalizeId(entry, item.contentId) } : item;
  }));
  const read = await readTexts(db, registry, unique);

  const chunks: Chunk[] = [];
  const chunkCounts: (Item & { count: number })[] = [];
  for (const { item, text } of read.documents) {
    const texts = chunkText(text, deps.chunking ?? DEFAULT_CHUNKING);
    chunkCounts.push({ ...item, count: texts.length });
    for (const [chunkIndex, chunk] of texts.entries()) {
      chunks.push({ ...item, chunkIndex, text: chunk, hash: await contentHash(chunk, embedder.model, embedder.dimensions) });
    }
  }
  for (const item of [...read.gone, ...read.empty]) chunkCounts.push({ ...pick(item), count: 0 });
  const stored = await storedHashes(db, read.documents.map((d) => d.item));
  const changed = chunks.filter((chunk) => stored.get(chunkKey(chunk)) !== chunk.hash);
  const embedded = await embedChunks(embedder, changed);

  // Deliveries overlap: a slower one must not overwrite a newer one's result. Under the items' locks
  // (so no other writer of them is between its own check and write), keep only items whose text is
  // still what was embedded; a row changed since then has a newer delivery coming, which writes it.
  // The queue rows are read first, so that the texts read after them hold every change they stand for.
  const superseded = await retryConflicts(() => db.transaction(async (tx) => {
    await lockItems(tx, unique);
    const seen = await pendingVersions(tx, unique);
    const now = await readTexts(tx, registry, unique);
    const stale = new Set(unique.filter((item) => now.texts.get(itemKey(item)) !== read.texts.get(itemKey(item))).map(itemKey));
    const current = (item: Item) => !stale.has(itemKey(item));
    await storeEmbeddings(tx, embedded.filter(current), chunkCounts.filter(current), embedder);
    await resolveSettled(tx, [...read.documents.map((d) => d.item), ...read.gone].filter(current), seen);
    return stale;
  }));
  return {
    items: unique.length,
    embedded: changed.length,
    unchanged: chunks.length - changed.length,
    deleted: read.gone.length,
    superseded: superseded.size,
    failed: [...read.failed, ...read.empty],
  };
}

const pick = (item: Item): Item => ({ contentType: item.contentType, contentId: item.contentId });

/** Loads and formats the items' rows; `texts` maps each item to its text, "" when it has none. */
async function readTexts(db: Database, registry: Registry, items: Item[]) {
  const loaded = await loadRows(db, registry, items);
  const { documents, empty } = formatRows(loaded.found);
  const texts = new Map<string, string>(items.map((item) => [itemKey(item), ""]));
  for (const { item, text } of documents) texts.set(itemKey(item), text);
  return { documents, empty, gone: loaded.gone, failed: loaded.failed, texts };
}
