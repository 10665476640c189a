// The processing core shared by process-webhook and the drain (ARCHITECTURE.md §1, "Processing"):
// load → format → chunk → hash → skip unchanged → embed → store. Reading each row as it is now makes
// duplicate and out-of-order deliveries converge.

import { DEFAULT_PRIORITY } from "../../schema/pipeline-tables.js";
import { normalizeId, type Registry, textConfigOf } from "../../schema/registry.js";
import { bucketGroups, lockItems, retryConflicts } from "../db/conflicts.js";
import type { Database } from "../db/database.js";
import type { Meter } from "../embedders/embedder.js";
import { type Embedder, withBudget } from "../embedders/embedder.js";
import { OutOfTimeError, PermanentError } from "../lib/errors.js";
import { type FailedItem, groupBy, type Item, itemKey, uniqueItems } from "../lib/item.js";
import { type Lane, laneFor } from "../lib/lanes.js";
import { pendingVersions, resolveSettled } from "../queue/index.js";
import { confirmSetWriter, readSets, servingEmbedder, shadowWriter } from "../sets/sets.js";
import { type ChunkOptions, chunkText, DEFAULT_CHUNKING } from "./chunk.js";
import { embedChunks, vectorFault } from "./embed.js";
import { filtersSignature } from "./filters.js";
import { type Document, formatRows, MAX_ROW_BYTES } from "./format.js";
import { contentHash } from "./hash.js";
import { dropHidden, hiddenVectors, hideChunks } from "./hidden.js";
import { loadRows } from "./load.js";
import {
  type Chunk,
  type ChunkCount,
  chunkKey,
  type EmbeddedChunk,
  type EmbeddingWriter,
  SERVING_TABLE,
  storedHashes,
  storeEmbeddings,
} from "./store.js";

export type ProcessDeps = {
  db: Database;
  embedder: Embedder;
  registry: Registry;
  chunking?: ChunkOptions;
  /** EMBEDDING_MAX_ROW_BYTES (config.ts): a row whose text is longer fails, unembedded. */
  config?: { process: { maxRowBytes?: number } };
  /** Where and how new and changed embeddings are written: an upsert on `db` unless given (store.ts). */
  writer?: EmbeddingWriter;
  /** The shadow model's embedder (EMBEDDING_SHADOW_MODEL): the shadow set is written with it (functions/sets/). */
  shadowEmbedder?: Embedder;
  /**
   * Books each API request's usage to its lane and model, within the budget (functions/cost/meter.ts);
   * nothing when absent.
   */
  meter?: (lane: Lane, model: string) => Meter;
  /**
   * Vectors made already by one model, by chunk hash (a Batch API batch's answers, functions/batch/): the
   * changed chunks of the set of that model come from here, with no request; an item needing a chunk
   * not here (its text changed since the batch was sent), or a chunk of the other set, is left out,
   * `deferred`, for the live lanes: a batch's settlement makes no live request.
   */
  prepared?: Prepared;
  /** Awaited before each write transaction (STORE_GROUP items): a backfill's drain gives way to the live lanes there (queue/live-first.ts). */
  beforeWrite?: () => Promise<void>;
};

/**
 * Items written per transaction, in lock-bucket order (db/conflicts.ts): a drain's batch of 500 in one
 * transaction held about 400 of the 1,024 item locks for its whole HNSW write, and a live change in
 * any of those buckets waited for it (BENCHMARKS.md §12, "Live changes during a first load through the
 * drain"). Each group is its own short transaction.
 */
export const STORE_GROUP = 25;

/** A batch's answers: the model (and size) that made them, and the vector of a chunk's hash. */
export type Prepared = { model: string; dimensions: number; vectorOf: (hash: string) => number[] | undefined };

/** What a set's pass may take from `prepared`: all of it for the set of its model, nothing for the other. */
const preparedFor = (prepared: Prepared | undefined, embedder: Embedder): Prepared | undefined =>
  !prepared || (prepared.model === embedder.model && prepared.dimensions === embedder.dimensions)
    ? prepared
    : { ...prepared, vectorOf: () => undefined };

/** An item with its queue row's priority, which names the lane its tokens are booked to. */
export type PrioritizedItem = Item & { priority?: number };

/** One set's pass: which table, and whether it settles the queue rows (only the serving set's does). */
type SetPass = { table: string; settle: boolean };

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
  /** Items the shadow set could not embed (left out of its coverage, not recorded as failed). */
  shadowFailed?: number;
  /** With `prepared`: items left unwritten and unsettled, whose chunks were not among the vectors given. */
  deferred?: Item[];
};

/**
 * Brings the embeddings of these items up to date in every set: the shadow's first (when there is one
 * and its embedder is at hand), then the serving set's, which settles the queue rows. So an item is
 * settled only once both are written: a transient failure of either retries both (the serving pass
 * costs nothing where its chunks are unchanged). A shadow's permanent failures are not the item's:
 * they leave a gap in its coverage, which the switch refuses (`npm run model -- status` says how much).
 * Throws TransientError when a retry may help.
 */
export async function processItems(deps: ProcessDeps, items: PrioritizedItem[]): Promise<ProcessResult> {
  const sets = await readSets(deps.db);
  const budget = deps.embedder.budget;
  const bound = (e: Embedder) => (budget && !e.budget ? withBudget(e, budget) : e);
  const shadow = shadowWriter({ embedder: deps.embedder, shadowEmbedder: deps.shadowEmbedder }, sets);
  let shadowFailed = 0;
  let shadowDeferred: Item[] = [];
  if (shadow) {
    const prepared = preparedFor(deps.prepared, shadow.embedder);
    const result = await processSet({ ...deps, embedder: bound(shadow.embedder), writer: undefined, prepared }, items, {
      table: shadow.table,
      settle: false,
    });
    shadowFailed = result.failed.length;
    shadowDeferred = result.deferred ?? [];
  }
  const serving = bound(servingEmbedder({ embedder: deps.embedder, shadowEmbedder: deps.shadowEmbedder }, sets));
  const result = await processSet({ ...deps, embedder: serving, prepared: preparedFor(deps.prepared, serving) }, items, {
    table: SERVING_TABLE,
    settle: true,
  });
  // An item either set left for the live lanes goes back in line whole: there, the set it has costs nothing.
  if (shadowDeferred.length) result.deferred = uniqueItems([...(result.deferred ?? []), ...shadowDeferred]);
  return shadowFailed ? { ...result, shadowFailed } : result;
}

async function processSet(deps: ProcessDeps, items: PrioritizedItem[], pass: SetPass): Promise<ProcessResult> {
  const { db, registry } = deps;
  const unique = uniqueItems(
    items.map((item) => {
      const entry = registry.byType(item.contentType);
      return entry ? { ...item, contentId: normalizeId(entry, item.contentId) } : item;
    }),
  );
  const read = await readTexts(db, registry, unique, true);

  // A row over the size limit fails before it costs any chunking, hashing or tokens; its stored
  // embeddings, if any, stay as they were.
  const maxRowBytes = deps.config?.process.maxRowBytes ?? MAX_ROW_BYTES;
  const oversized = oversizedRows(read.documents, maxRowBytes);
  read.documents = read.documents.filter((d) => !oversized.has(itemKey(d.item)));
  const { chunks, chunkCounts } = await chunkDocuments(deps, read.documents);
  // A hidden row's vectors are kept aside for as long as its text is what they were made from: its
  // current chunks say which (one over the size limit keeps none).
  const hiddenDocuments = formatRows(read.hidden).documents;
  const hiddenTooLarge = oversizedRows(hiddenDocuments, maxRowBytes);
  const hidden = {
    items: read.hidden.map((h) => pick(h.item)),
    chunks: (
      await chunkDocuments(
        deps,
        hiddenDocuments.filter((d) => !hiddenTooLarge.has(itemKey(d.item))),
      )
    ).chunks,
  };
  // Removals first, in their own transaction: a deleted or hidden row leaves search whatever the
  // embedding API does next (a permanent error fails only the rows it was embedding).
  const removals = [...read.gone, ...read.empty].map(pick);
  const superseded = await storeCurrent(deps, pass, read.texts, {
    items: removals,
    embedded: [],
    chunkCounts: removals.map((item) => ({ ...item, count: 0 })),
    settled: read.gone,
    hidden,
  });

  const stored = await storedHashes(
    db,
    read.documents.map((d) => d.item),
    pass.table,
  );
  const changed = chunks.filter((chunk) => stored.get(chunkKey(chunk)) !== chunk.hash);
  // A row shown again with the text it was hidden with: its kept vectors, no embedding call.
  const kept = pass.settle && changed.length ? await hiddenVectors(db, changed) : new Map<string, number[]>();
  const restored = changed
    .filter((chunk) => kept.has(chunkKey(chunk)))
    .map((chunk) => ({ ...chunk, embedding: kept.get(chunkKey(chunk))! }));
  let toEmbed = changed.filter((chunk) => !kept.has(chunkKey(chunk)));
  const { given, deferred } = takePrepared(deps, toEmbed);
  if (deps.prepared) toEmbed = [];
  let embedded: EmbeddedChunk[];
  let unusable: Map<string, FailedItem>;
  try {
    const result = await embedByLane(deps, toEmbed, unique);
    result.embedded.push(...given.embedded);
    result.unusable.push(...given.unusable);
    embedded = [...result.embedded, ...restored].map((chunk) => ({ ...chunk, stored: stored.has(chunkKey(chunk)) }));
    // An item with an unusable vector fails alone, none of its chunks stored; its batch goes on.
    unusable = new Map(result.unusable.map((chunk) => [itemKey(chunk), { ...pick(chunk), error: chunk.error }]));
  } catch (error) {
    // Transient: thrown, the caller retries these items (their removals are done already).
    if (!(error instanceof PermanentError)) throw error;
    const failed = read.documents.map((d) => ({ ...pick(d.item), error: error.message }));
    return {
      items: unique.length,
      embedded: 0,
      unchanged: 0,
      deleted: read.gone.length,
      superseded: superseded.size,
      failed: [...read.failed, ...read.empty, ...oversized.values(), ...failed],
    };
  }
  const usable = <T extends Item>(item: T) => !unusable.has(itemKey(item)) && !deferred.has(itemKey(item));
  const documents = read.documents.map((d) => d.item).filter(usable);
  const counts = chunkCounts.filter(usable);
  for (const key of await storeCurrent(deps, pass, read.texts, {
    items: documents,
    embedded: embedded.filter(usable),
    chunkCounts: counts,
    settled: documents,
    hidden: { items: [], chunks: [] },
  }))
    superseded.add(key);
  return {
    items: unique.length,
    embedded: toEmbed.length,
    unchanged: chunks.length - toEmbed.length,
    deleted: read.gone.length,
    superseded: superseded.size,
    failed: [...read.failed, ...read.empty, ...oversized.values(), ...unusable.values()],
    ...(deps.prepared ? { deferred: [...deferred.values()] } : {}),
  };
}

/** The chunks `deps.prepared` holds vectors for, checked as embedChunks checks; the items of the others. */
function takePrepared(deps: ProcessDeps, chunks: Chunk[]) {
  const given: Awaited<ReturnType<typeof embedChunks>> = { embedded: [], unusable: [] };
  const deferred = new Map<string, Item>();
  if (!deps.prepared) return { given, deferred };
  for (const chunk of chunks) {
    const vector = deps.prepared.vectorOf(chunk.hash);
    if (!vector) deferred.set(itemKey(chunk), pick(chunk));
    else {
      const fault = vectorFault(vector);
      if (fault)
        given.unusable.push({ ...chunk, error: `the Batch API returned an unusable vector for chunk ${chunk.chunkIndex}: ${fault}` });
      else given.embedded.push({ ...chunk, embedding: vector });
    }
  }
  return { given, deferred };
}

/** The documents' chunks, hashed, and each document's chunk count. Checks the run's budget as it goes. */
export async function chunkDocuments(deps: ProcessDeps, documents: Document[]) {
  const { embedder, registry } = deps;
  const chunks: Chunk[] = [];
  const chunkCounts: ChunkCount[] = [];
  for (const { item, text, filters } of documents) {
    // Chunking and hashing take time too: the run stops here rather than outlive its budget.
    if (embedder.budget?.left() === 0) throw new OutOfTimeError("no time left in this run to chunk and hash its rows");
    const texts = chunkText(text, deps.chunking ?? DEFAULT_CHUNKING);
    const textConfig = textConfigOf(registry.byType(item.contentType)!);
    chunkCounts.push({ ...item, count: texts.length, filters });
    for (const [chunkIndex, chunk] of texts.entries()) {
      const hash = await contentHash(chunk, embedder.model, embedder.dimensions);
      chunks.push({ ...item, chunkIndex, text: chunk, hash, textConfig, filters });
    }
  }
  return { chunks, chunkCounts };
}

/**
 * Embeds the chunks one lane at a time, each lane's requests booked to it (the budget gives the lanes
 * different shares); without a meter, all at once.
 */
async function embedByLane(deps: ProcessDeps, chunks: Chunk[], items: PrioritizedItem[]) {
  if (!deps.meter) return embedChunks(deps.embedder, chunks);
  const lanes = new Map(items.map((item) => [itemKey(item), laneFor(item.priority ?? DEFAULT_PRIORITY)]));
  const result: Awaited<ReturnType<typeof embedChunks>> = { embedded: [], unusable: [] };
  for (const [lane, group] of groupBy(chunks, (chunk) => lanes.get(itemKey(chunk)) ?? laneFor(DEFAULT_PRIORITY))) {
    const part = await embedChunks(deps.embedder, group, deps.meter(lane, deps.embedder.model));
    result.embedded.push(...part.embedded);
    result.unusable.push(...part.unusable);
  }
  return result;
}

/** The documents whose UTF-8 text is over `limit` bytes, as failed items (cheap for short texts). */
export function oversizedRows(documents: Document[], limit: number): Map<string, FailedItem> {
  const oversized = new Map<string, FailedItem>();
  for (const { item, text } of documents) {
    if (text.length * 3 <= limit) continue;
    const bytes = new TextEncoder().encode(text).length;
    if (bytes <= limit) continue;
    const error = `${item.contentType} is ${bytes.toLocaleString("en-US")} bytes of text, over the limit of ${limit.toLocaleString("en-US")} a row (EMBEDDING_MAX_ROW_BYTES)`;
    oversized.set(itemKey(item), { ...pick(item), error });
  }
  return oversized;
}

const pick = (item: Item): Item => ({ contentType: item.contentType, contentId: item.contentId });

/**
 * Deliveries overlap: a slower one must not overwrite a newer one's result. Under the items' locks
 * (so no other writer of them is between its own check and write), keeps only items whose text is
 * still what was read (`texts`); a row changed since then has a newer delivery coming, which writes it.
 * The queue rows are read first, so that the texts read after them hold every change they stand for.
 * Returns the keys of the items left to that newer delivery. `hidden`: of the items, those whose row
 * exists but is hidden, with their current chunks (hidden.ts); the others' kept vectors are dropped.
 * STORE_GROUP items a transaction, each group whole: an item's chunks, counts and settlement together.
 */
async function storeCurrent(deps: ProcessDeps, pass: SetPass, texts: Map<string, string>, writes: Writes): Promise<Set<string>> {
  const stale = new Set<string>();
  for (const group of bucketGroups(writes.items, deps.writer?.groupSize ?? STORE_GROUP)) {
    await deps.beforeWrite?.();
    const keys = new Set(group.map(itemKey));
    const of = <T extends Item>(list: T[]) => list.filter((x) => keys.has(itemKey(x)));
    const part: Writes = {
      items: group,
      embedded: of(writes.embedded),
      chunkCounts: of(writes.chunkCounts),
      settled: of(writes.settled),
      hidden: { items: of(writes.hidden.items), chunks: of(writes.hidden.chunks) },
    };
    for (const key of await storeGroup(deps, pass, texts, part)) stale.add(key);
  }
  return stale;
}

/** What storeCurrent writes for `items`: their changed chunks, chunk counts, queue rows to settle, and hidden rows. */
type Writes = {
  items: Item[];
  embedded: EmbeddedChunk[];
  chunkCounts: ChunkCount[];
  settled: Item[];
  hidden: { items: Item[]; chunks: Chunk[] };
};

/** One group of storeCurrent's, in a transaction of its own. */
function storeGroup(deps: ProcessDeps, pass: SetPass, texts: Map<string, string>, writes: Writes): Promise<Set<string>> {
  const { items, embedded, chunkCounts, settled, hidden } = writes;
  const { embedder, registry, writer } = deps;
  return retryConflicts(() =>
    (writer?.db ?? deps.db).transaction(async (tx) => {
      await lockItems(tx, items);
      await confirmSetWriter(tx, pass.table, embedder);
      const seen = await pendingVersions(tx, items);
      const now = await readTexts(tx, registry, items);
      const stale = new Set(items.filter((item) => now.texts.get(itemKey(item)) !== texts.get(itemKey(item))).map(itemKey));
      const current = (item: Item) => !stale.has(itemKey(item));
      // Kept vectors are the serving model's: only the serving set's pass hides, drops or restores them.
      if (pass.settle) {
        const hiddenKeys = new Set(hidden.items.map(itemKey));
        await hideChunks(tx, hidden.items.filter(current), hidden.chunks.filter(current));
        await dropHidden(
          tx,
          items.filter((item) => current(item) && !hiddenKeys.has(itemKey(item))),
        );
      }
      await storeEmbeddings(tx, embedded.filter(current), chunkCounts.filter(current), embedder, writer?.write, pass.table);
      if (pass.settle) await resolveSettled(tx, settled.filter(current), seen);
      return stale;
    }),
  );
}

/**
 * Loads and formats the items' rows; `texts` maps each item to its text and search filters, "" when it
 * has none (a change to either, while the batch embeds, leaves the write to that change's delivery).
 */
async function readTexts(db: Database, registry: Registry, items: Item[], withHidden = false) {
  const loaded = await loadRows(db, registry, items, withHidden);
  const { documents, empty } = formatRows(loaded.found);
  const texts = new Map<string, string>(items.map((item) => [itemKey(item), ""]));
  for (const { item, text, filters } of documents) texts.set(itemKey(item), `${text}\u0000${filtersSignature(filters)}`);
  return { documents, empty, gone: loaded.gone, hidden: loaded.hidden, failed: loaded.failed, texts };
}
