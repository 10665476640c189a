// A search's `filters` (README "Search"): checked against the fields each searchable type declares
// (registry `search.filters`) and turned into the SQL both halves add to their WHERE clauses, against
// what is stored with each chunk (functions/core/filters.ts): equality on the GIN-indexed `filters`
// JSON, a date range on the btree-indexed `filter_date`.
import { type SQL, sql } from "drizzle-orm";
import type { FilterRequest } from "../../schema/messages.js";
import type { FilterValue } from "../../schema/pipeline-tables.js";
import { type ContentType, type FilterKind, filterFieldsOf, type Registry } from "../../schema/registry.js";
import { BadRequestError } from "../lib/errors.js";

/** Filters resolved for the SQL: each equality field with the values any of which it may have; the date range. */
export type SearchFilters = { equal: [name: string, values: FilterValue[]][]; date?: { from?: string; to?: string } };

/**
 * The types to search and their filters. A filter keeps only types that declare it: named in `types`,
 * a type without it is a 400; otherwise the types without it are left out (none left: a 400).
 * A value of the wrong kind for the field is a 400 naming the filter.
 */
export function resolveFilters(
  registry: Registry,
  scoped: string[] | undefined,
  requested: Record<string, FilterRequest> | undefined,
  named: boolean,
): { types: string[] | undefined; filters: SearchFilters | undefined } {
  if (!requested || Object.keys(requested).length === 0) return { types: scoped, filters: undefined };
  let entries = scoped ? scoped.map((type) => registry.byType(type)!) : registry.entries;
  const filters: SearchFilters = { equal: [] };
  for (const [name, value] of Object.entries(requested)) {
    const lacking = entries.filter((entry) => !fieldOf(entry, name));
    if (named && lacking.length) {
      throw new BadRequestError(`filters.${name}: not a filter of ${lacking.map((e) => e.type).join(", ")} (registry search.filters)`);
    }
    entries = entries.filter((entry) => fieldOf(entry, name));
    if (entries.length === 0) throw new BadRequestError(`filters.${name}: no content type you may search has this filter`);
    const kinds = new Set(entries.map((entry) => fieldOf(entry, name)!));
    if (kinds.size > 1)
      throw new BadRequestError(`filters.${name}: is of several kinds (${[...kinds].join(", ")}) across types; search one type`);
    const kind = [...kinds][0]!;
    if (kind === "date") {
      if (typeof value !== "object" || Array.isArray(value))
        throw new BadRequestError(`filters.${name}: is a date: give a range {from, to}`);
      filters.date = { from: isoOf(value.from), to: isoOf(value.to) };
    } else {
      if (typeof value === "object" && !Array.isArray(value))
        throw new BadRequestError(`filters.${name}: a range is only for a date field`);
      filters.equal.push([name, (Array.isArray(value) ? value : [value]).map((one) => filterValue(name, kind, one))]);
    }
  }
  return { types: entries.map((entry) => entry.type), filters };
}

const fieldOf = (entry: ContentType, name: string): FilterKind | undefined => filterFieldsOf(entry).find((f) => f.name === name)?.kind;

const isoOf = (date: string | undefined) => (date === undefined ? undefined : new Date(date).toISOString());

function filterValue(name: string, kind: FilterKind, value: FilterValue): FilterValue {
  if (kind === "number" && typeof value !== "number") throw new BadRequestError(`filters.${name}: must be a number`);
  if (kind === "boolean" && typeof value !== "boolean") throw new BadRequestError(`filters.${name}: must be true or false`);
  if (kind === "text" && typeof value !== "string") throw new BadRequestError(`filters.${name}: must be a string`);
  // Stored as Postgres returns them: uuids in lower case, so an upper-case id finds its row.
  return typeof value === "string" && /^[0-9A-F-]{36}$/i.test(value) ? value.toLowerCase() : value;
}

/**
 * The WHERE conditions of these filters: the single-valued equality fields as one containment (one
 * GIN lookup), a field of several values as an OR of containments, the range on filter_date.
 */
export function filterConditions(filters: SearchFilters | undefined): SQL[] {
  if (!filters) return [];
  const conditions: SQL[] = [];
  const single = Object.fromEntries(filters.equal.filter(([, values]) => values.length === 1).map(([name, values]) => [name, values[0]]));
  if (Object.keys(single).length) conditions.push(sql`filters @> ${JSON.stringify(single)}::jsonb`);
  for (const [name, values] of filters.equal.filter(([, values]) => values.length > 1)) {
    conditions.push(
      sql`(${sql.join(
        values.map((value) => sql`filters @> ${JSON.stringify({ [name]: value })}::jsonb`),
        sql` OR `,
      )})`,
    );
  }
  if (filters.date?.from) conditions.push(sql`filter_date >= ${filters.date.from}::timestamptz`);
  if (filters.date?.to) conditions.push(sql`filter_date < ${filters.date.to}::timestamptz`);
  return conditions;
}

/** The conditions of a search's types and filters (none: every row). */
export function scopeConditions(types: string[] | undefined, filters: SearchFilters | undefined): SQL[] {
  return [
    ...(types?.length
      ? [
          sql`content_type IN (${sql.join(
            types.map((t) => sql`${t}`),
            sql`, `,
          )})`,
        ]
      : []),
    ...filterConditions(filters),
  ];
}
