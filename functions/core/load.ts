// Stage 1: read the rows as they are now, one query per content type.
import { and, inArray } from "drizzle-orm";
import { type ContentType, columnsOf, filterFieldsOf, idKey, idPattern, type Registry, visibleWhere } from "../../schema/registry.js";
import type { Database } from "../db/database.js";
import { type FailedItem, groupBy, type Item } from "../lib/item.js";
import { type ChunkFilters, filterKey, NO_FILTERS, storedFilters } from "./filters.js";

export type Loaded = {
  /** Rows that exist and are searchable (their filter, their parent's). */
  found: { item: Item; entry: ContentType; row: Record<string, unknown>; filters: ChunkFilters }[];
  /** Rows that are gone or filtered out: their embeddings go. */
  gone: Item[];
  /** Of `gone`, when asked for: the rows that exist, as do their parents, but are hidden (a filter). */
  hidden: Loaded["found"];
  failed: FailedItem[];
};

export async function loadRows(db: Database, registry: Registry, items: Item[], withHidden = false): Promise<Loaded> {
  const loaded: Loaded = { found: [], gone: [], hidden: [], failed: [] };
  const valid: { item: Item; entry: ContentType }[] = [];
  for (const item of items) {
    const entry = registry.byType(item.contentType);
    if (!entry) loaded.failed.push({ ...item, error: `unknown content type "${item.contentType}"` });
    else if (!idPattern(entry).test(item.contentId)) loaded.failed.push({ ...item, error: `invalid id for ${entry.type}` });
    else valid.push({ item, entry });
  }
  for (const [entry, members] of groupBy(valid, (v) => v.entry)) {
    const group = members.map((m) => m.item);
    const ids = group.map((item) => item.contentId);
    // Only the embedded fields are read for the text: nothing else of the row can reach it, the API or a
    // snippet. The search filter fields are read beside them, under keys of their own, and set apart.
    const filterColumns = Object.fromEntries(filterFieldsOf(entry).map((field) => [filterKey(field.name), field.column]));
    const rows = (await db
      .select({ ...filterColumns, ...columnsOf(entry, entry.embedded) })
      .from(entry.table)
      .where(and(inArray(entry.idColumn, ids), visibleWhere(registry, entry)))) as Record<string, unknown>[];
    const key = idKey(entry);
    const byId = new Map(rows.map((row) => [String(row[key]), row]));
    const gone: Item[] = [];
    for (const item of group) {
      const read = byId.get(item.contentId);
      if (!read) {
        gone.push(item);
        continue;
      }
      const row = Object.fromEntries(Object.entries(read).filter(([column]) => !(column in filterColumns)));
      loaded.found.push({ item, entry, row, filters: storedFilters(entry, read) });
    }
    loaded.gone.push(...gone);
    if (withHidden && gone.length && visibleWhere(registry, entry)) {
      const rows = (await db
        .select(columnsOf(entry, entry.embedded))
        .from(entry.table)
        .where(
          and(
            inArray(
              entry.idColumn,
              gone.map((item) => item.contentId),
            ),
            visibleWhere(registry, entry, false),
          ),
        )) as Record<string, unknown>[];
      const hidden = new Map(rows.map((row) => [String(row[key]), row]));
      // Only their hashes are needed (vectors kept aside), not their filters.
      for (const item of gone)
        if (hidden.has(item.contentId)) loaded.hidden.push({ item, entry, row: hidden.get(item.contentId)!, filters: NO_FILTERS });
    }
  }
  return loaded;
}
