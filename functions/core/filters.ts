// A row's search filter fields (registry `search.filters`) as stored with each of its chunks: the
// equality fields as JSON by name, the date field in a column of its own (ARCHITECTURE.md §9, "Filters").
import type { FilterValue } from "../../schema/pipeline-tables.js";
import { type ContentType, filterFieldsOf } from "../../schema/registry.js";

/** `values`: the equality fields that have a value; `date`: the date field's, as ISO text, or null. */
export type ChunkFilters = { values: Record<string, FilterValue>; date: string | null };

export const NO_FILTERS: ChunkFilters = { values: {}, date: null };

/** The SELECT key a filter field is read under, beside the embedded fields (which `format` alone sees). */
export const filterKey = (name: string) => `filter$${name}`;

/** The stored form of a row's filter fields, read under `filterKey`; null values are left out. */
export function storedFilters(entry: ContentType, row: Record<string, unknown>): ChunkFilters {
  const filters: ChunkFilters = { values: {}, date: null };
  for (const field of filterFieldsOf(entry)) {
    const value = row[filterKey(field.name)];
    if (value == null) continue;
    if (field.kind === "date") filters.date = (value instanceof Date ? value : new Date(String(value))).toISOString();
    else if (field.kind === "number") filters.values[field.name] = Number(value);
    else if (field.kind === "boolean") filters.values[field.name] = Boolean(value);
    // Ids as the rest of the pipeline names them: uuids in lower case (as Postgres returns them).
    else filters.values[field.name] = String(value);
  }
  return filters;
}

/** One text per filter set (keys in order), to compare what was read with what is stored. */
export const filtersSignature = (filters: ChunkFilters) =>
  JSON.stringify([Object.entries(filters.values).sort(([a], [b]) => (a < b ? -1 : 1)), filters.date]);
