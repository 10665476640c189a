// Stage 2: a row becomes the text to embed, by its registry entry.
import { errorMessage } from "../lib/errors.js";
import type { FailedItem, Item } from "../lib/item.js";
import type { ChunkFilters } from "./filters.js";
import type { Loaded } from "./load.js";

/** The default size limit of a row's text (EMBEDDING_MAX_ROW_BYTES): about 250,000 tokens. */
export const MAX_ROW_BYTES = 1_000_000;

export type Document = { item: Item; text: string; filters: ChunkFilters };

export function formatRows(found: Loaded["found"]): { documents: Document[]; empty: FailedItem[] } {
  const documents: Document[] = [];
  const empty: FailedItem[] = [];
  for (const { item, entry, row, filters } of found) {
    let text: string;
    try {
      text = (entry.format(row as never) ?? "").trim();
    } catch (error) {
      empty.push({ ...item, error: `formatting ${entry.type} failed: ${errorMessage(error)}` });
      continue;
    }
    if (text) documents.push({ item, text, filters });
    else empty.push({ ...item, error: `${entry.type} has no text to embed` });
  }
  return { documents, empty };
}
