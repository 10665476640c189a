// What a batch of items would send to the embedding API, without sending it: their rows read, formatted,
// chunked and hashed as processing does (process.ts), less the chunks whose stored hash is current in the set's table. The
// Batch API path (functions/batch/submit.ts) writes these into its file.
import type { Embedder } from "../embedders/embedder.js";
import { type Item, itemKey } from "../lib/item.js";
import { formatRows, MAX_ROW_BYTES } from "./format.js";
import { loadRows } from "./load.js";
import { chunkDocuments, oversizedRows, type ProcessDeps } from "./process.js";
import { type Chunk, chunkKey, SERVING_TABLE, storedHashes } from "./store.js";

/** The items' chunks that `embedder` would embed now for the set stored in `table` (rows over the size limit left out: processing fails them). */
export async function changedChunks(deps: ProcessDeps & { embedder: Embedder }, items: Item[], table = SERVING_TABLE): Promise<Chunk[]> {
  const { documents } = formatRows((await loadRows(deps.db, deps.registry, items)).found);
  const oversized = oversizedRows(documents, deps.config?.process.maxRowBytes ?? MAX_ROW_BYTES);
  const fitting = documents.filter((d) => !oversized.has(itemKey(d.item)));
  const { chunks } = await chunkDocuments(deps, fitting);
  const stored = await storedHashes(
    deps.db,
    fitting.map((d) => d.item),
    table,
  );
  return chunks.filter((chunk) => stored.get(chunkKey(chunk)) !== chunk.hash);
}
