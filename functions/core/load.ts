// Stage 1: read the rows as they are now, one query per content type.
import { and, getTableColumns, inArray } from "drizzle-orm";
import type { ContentType, Registry } from "../../schema/registry.js";
import { idPattern } from "../../schema/registry.js";
import type { Database } from "../db/database.js";
import { groupBy, type FailedItem, type Item } from "./item.js";

export type Loaded = {
  /** Rows that exist and pass the registry's filter. */
  found: { item: Item; entry: ContentType; row: Record<string, unknown> }[];
  /** Rows that are gone or filtered out: their embeddings go. */
  gone: Item[];
  failed: FailedItem[];
};

export async function loadRows(db: Database, registry: Registry, items: Item[]): Promise<Loaded> {
  const loaded: Loaded = { found: [], gone: [], failed: [] };
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
    const rows = (await db
      .select()
      .from(entry.table)
      .where(and(inArray(entry.idColumn, ids), entry.filter?.where))) as Record<string, unknown>[];
    const idKey = Object.entries(getTableColumns(entry.table)).find(([, column]) => column === entry.idColumn)?.[0] ?? "id";
    const byId = new Map(rows.map((row) => [String(row[idKey]), row]));
    for (const item of group) {
      const row = byId.get(item.contentId);
      if (row) loaded.found.push({ item, entry, row });
      else loaded.gone.push(item);
    }
  }
  return loaded;
}
