// Stage 2: a row becomes the text to embed, by its registry entry.
import { errorMessage } from "../lib/errors.js";
import type { FailedItem, Item } from "./item.js";
import type { Loaded } from "./load.js";

export type Document = { item: Item; text: string };

export function formatRows(found: Loaded["found"]): { documents: Document[]; empty: FailedItem[] } {
  const documents: Document[] = [];
  const empty: FailedItem[] = [];
  for (const { item, entry, row } of found) {
    let text: string;
    try {
      text = (entry.format(row as never) ?? "").trim();
    } catch (error) {
      empty.push({ ...item, error: `formatting ${entry.type} failed: ${errorMessage(error)}` });
      continue;
    }
    if (text) documents.push({ item, text });
    else empty.push({ ...item, error: `${entry.type} has no text to embed` });
  }
  return { documents, empty };
}
