// Rows written past the triggers (a replica session, COPY with triggers off, a restore) are never
// queued. Maintenance sweeps the searchable rows in id order, a bounded slice per run from where the
// last run stopped, and finds each one whose text no longer matches its stored chunks' hashes, or that
// has none: those are queued at backfill priority, so they cost live traffic nothing.

import { and, eq, gt, inArray, type SQL } from "drizzle-orm";
import { embeddingQueue } from "../../schema/pipeline-tables.js";
import { type ContentType, columnsOf, idKey, visibleWhere } from "../../schema/registry.js";
import type { Budget } from "../lib/budget.js";
import { type Item, itemKey } from "../lib/item.js";
import { NO_FILTERS } from "./filters.js";
import { formatRows, MAX_ROW_BYTES } from "./format.js";
import type { Loaded } from "./load.js";
import { chunkDocuments, type ProcessDeps } from "./process.js";
import { chunkKey, storedHashes } from "./store.js";

/** Where the sweep goes on: the content type, and the last id checked in it (none: from its first row). */
export type DriftCursor = { type: string; afterId: string | null };

/** Rows read, chunked and hashed at a time. */
export const DRIFT_BATCH = 500;
/** Rows checked per maintenance run at most: a large table is swept over several runs, never in one. */
export const DRIFT_ROWS_PER_RUN = 20_000;

export type DriftSweep = {
  drifted: Item[];
  checked: number;
  /** Where the next run starts; null when this run reached the end (the next starts over). */
  next: DriftCursor | null;
};

/**
 * Checks up to `limit` searchable rows from `from` (the start when null), stopping early when `budget`
 * runs out between batches. Only what the processing core would embed is compared: the same fields,
 * format, chunking and hash.
 */
export async function findDrifted(
  deps: ProcessDeps,
  from: DriftCursor | null,
  { limit = DRIFT_ROWS_PER_RUN, budget }: { limit?: number; budget?: Budget } = {},
): Promise<DriftSweep> {
  const { registry } = deps;
  const entries = registry.entries;
  let index = Math.max(
    0,
    entries.findIndex((e) => e.type === from?.type),
  );
  let afterId = from && entries[index]?.type === from.type ? from.afterId : null;
  const drifted: Item[] = [];
  let checked = 0;
  while (index < entries.length) {
    if (checked >= limit || budget?.left() === 0) return { drifted, checked, next: { type: entries[index]!.type, afterId } };
    const entry = entries[index]!;
    const size = Math.min(DRIFT_BATCH, limit - checked);
    const rows = await readBatch(deps, entry, afterId, size);
    checked += rows.length;
    drifted.push(...(await driftedOf(deps, rows)));
    if (rows.length === size) {
      afterId = rows.at(-1)!.item.contentId;
    } else {
      index++;
      afterId = null;
    }
  }
  return { drifted, checked, next: null };
}

async function readBatch(deps: ProcessDeps, entry: ContentType, afterId: string | null, size: number): Promise<Loaded["found"]> {
  const after: SQL | undefined = afterId === null ? undefined : gt(entry.idColumn, afterId);
  const rows = (await deps.db
    .select(columnsOf(entry, entry.embedded))
    .from(entry.table)
    .where(and(after, visibleWhere(deps.registry, entry)))
    .orderBy(entry.idColumn)
    .limit(size)) as Record<string, unknown>[];
  const key = idKey(entry);
  // Drift is judged on the text's chunks; a filter-only change is the triggers' to queue.
  return rows.map((row) => ({ item: { contentType: entry.type, contentId: String(row[key]) }, entry, row, filters: NO_FILTERS }));
}

/** The rows (of one content type) whose stored chunks are not exactly the chunks their text makes now. */
async function driftedOf(deps: ProcessDeps, rows: Loaded["found"]): Promise<Item[]> {
  if (rows.length === 0) return [];
  const { documents, empty } = formatRows(rows);
  const limit = deps.config?.process.maxRowBytes ?? MAX_ROW_BYTES;
  // An oversized row fails whenever it is processed: queuing it would only repeat its failure record.
  const fitting = documents.filter((d) => new TextEncoder().encode(d.text).length <= limit);
  const { chunks, chunkCounts } = await chunkDocuments(deps, fitting);
  const stored = await storedHashes(
    deps.db,
    rows.map((r) => r.item),
  );
  const storedCount = new Map<string, number>();
  for (const key of stored.keys()) {
    const item = key.slice(0, key.lastIndexOf("\u0000"));
    storedCount.set(item, (storedCount.get(item) ?? 0) + 1);
  }
  const wrong = new Set(chunks.filter((c) => stored.get(chunkKey(c)) !== c.hash).map(itemKey));
  for (const { contentType, contentId, count } of chunkCounts) {
    if ((storedCount.get(itemKey({ contentType, contentId })) ?? 0) !== count) wrong.add(itemKey({ contentType, contentId }));
  }
  // A row with no text keeps no embeddings: any it has are stale.
  for (const item of empty) if (storedCount.has(itemKey(item))) wrong.add(itemKey(item));
  if (wrong.size === 0) return [];
  // A row with a failure record is retry-failed's to try again, within its rounds (not every night).
  const failed = await deps.db
    .select({ contentType: embeddingQueue.contentType, contentId: embeddingQueue.contentId })
    .from(embeddingQueue)
    .where(
      and(
        eq(embeddingQueue.status, "failed"),
        eq(embeddingQueue.contentType, rows[0]!.item.contentType),
        inArray(
          embeddingQueue.contentId,
          rows.map((r) => r.item.contentId),
        ),
      ),
    );
  for (const item of failed) wrong.delete(itemKey(item));
  return rows.map((r) => r.item).filter((item) => wrong.has(itemKey(item)));
}
