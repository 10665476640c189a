// The content registry: one entry per content type says where its rows live, which fields are
// embedded, how a row becomes text, how urgent it is, and what of it may leave the database through
// search. Trigger SQL is generated from this list.
import { and, eq, getTableColumns, getTableName, type SQL, sql } from "drizzle-orm";
import type { AnyPgColumn, PgTable } from "drizzle-orm/pg-core";
import { CONTENT_TYPE_NAME } from "./messages.js";
import { communityComment, communityPost, course, courseLesson, profiles, users } from "./source-tables.js";

/** Backfills and re-embedding: behind every live lane (priorities 1–5), so they never delay a change. */
export const BACKGROUND_PRIORITY = 9;

export type ContentType<T extends PgTable = PgTable> = {
  /** The name used in the queue, the embeddings table and the API. */
  type: string;
  table: T;
  idColumn: AnyPgColumn;
  /**
   * The fields whose text is embedded: the only ones read to make text (`format` sees no other), and
   * the ones watched (an update that changes none of them is dropped).
   */
  embedded: AnyPgColumn[];
  /** Rows that should be searchable; others lose their embeddings. Its fields are watched too. */
  filter?: { fields: AnyPgColumn[]; where: SQL };
  /**
   * A row is searchable only while its parent row (of another content type, named by `foreignKey`)
   * exists and is searchable itself. A change to the parent's visibility queues its children at the
   * parent's priority (the generated triggers), so they leave search as fast as it does.
   * `optional`: a row whose foreign key is null has no parent and is searchable on its own (a comment
   * not under any post); one that names a parent that is gone or hidden is not, either way.
   */
  parent?: { type: string; foreignKey: AnyPgColumn; optional?: boolean };
  priority: number;
  /** The row as text, from the embedded fields only. */
  format: (row: T["$inferSelect"]) => string;
  /** What may leave the database through search. */
  search: {
    /** Found with SEARCH_TOKEN (and by anyone with SEARCH_PUBLIC=true); otherwise with ADMIN_TOKEN only. */
    public: boolean;
    /**
     * Fields a result's snippet may show. When they include every embedded field the snippet is the
     * matching chunk; otherwise it is made of these fields alone, read from the row.
     */
    snippet: AnyPgColumn[];
    /**
     * The Postgres text search configuration its chunks' full text is made with (keyword and hybrid
     * search): stemming and stop words of a language, or 'simple' (words as they are). DEFAULT_TEXT_CONFIG unless set.
     */
    textConfig?: string;
    /**
     * Fields a search may filter by (`filters` in the request), by the name the request uses: stored
     * with each chunk and indexed (ARCHITECTURE.md §9). A date or timestamp column is filtered by range
     * (one a type at most); any other by equal values. A filter tells whether a row has that value, so
     * a public type's filters are fields its searchers may know.
     */
    filters?: Record<string, AnyPgColumn>;
  };
};

/** How a filter field is matched: a date by range, anything else by equal values (JSON of its type). */
export type FilterKind = "date" | "number" | "boolean" | "text";

export type FilterField = { name: string; column: AnyPgColumn; kind: FilterKind };

/** The kind of filter a column makes, from its SQL type. */
export function filterKindOf(column: AnyPgColumn): FilterKind {
  const sqlType = column.getSQLType();
  if (/^(timestamp|date)/.test(sqlType)) return "date";
  if (/^(smallint|integer|bigint|serial|bigserial|smallserial|real|double|numeric)/.test(sqlType)) return "number";
  if (sqlType === "boolean") return "boolean";
  return "text";
}

/** The entry's filter fields, by name. */
export const filterFieldsOf = (entry: ContentType): FilterField[] =>
  Object.entries(entry.search.filters ?? {}).map(([name, column]) => ({ name, column, kind: filterKindOf(column) }));

/** A filter's name: what a request names it by, and its key in the stored JSON. */
const FILTER_NAME = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;

/**
 * 'english': the sample content is English prose and queries are natural language; stemming lets
 * "learning" find "learn", and dropping stop words keeps "how to …" from requiring "how" and "to".
 * 'simple' suits names, codes and mixed languages (no stemming, no stop words).
 */
export const DEFAULT_TEXT_CONFIG = "english";

/** The text search configuration of a type's chunks. */
export const textConfigOf = (entry: ContentType): string => entry.search.textConfig ?? DEFAULT_TEXT_CONFIG;

/** A configuration's name as Postgres stores it (pg_ts_config.cfgname, optionally schema-qualified). */
const TEXT_CONFIG_NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;

/** Keeps each entry's `format` typed by its own table. */
export function contentType<T extends PgTable>(entry: ContentType<T>): ContentType {
  return entry as unknown as ContentType;
}

/** Joins labelled parts into text, leaving out the empty ones. */
export function labelled(parts: [label: string, value: string | string[] | null | undefined][]): string {
  return parts
    .map(([label, value]) => [label, Array.isArray(value) ? value.join(", ") : value] as const)
    .filter(([, value]) => value != null && value.trim() !== "")
    .map(([label, value]) => (label ? `${label}: ${value!.trim()}` : value!.trim()))
    .join("\n");
}

/** The fields each change of the entry's rows is captured for: embedded, visibility, parent and search filter fields. */
export function capturedFields(entry: ContentType): AnyPgColumn[] {
  return [...new Set([...entry.embedded, ...visibilityFields(entry), ...Object.values(entry.search.filters ?? {})])];
}

/** The fields that decide whether a row is searchable at all: a change to them may show or hide its children. */
export function visibilityFields(entry: ContentType): AnyPgColumn[] {
  return [...(entry.filter?.fields ?? []), ...(entry.parent ? [entry.parent.foreignKey] : [])];
}

/**
 * What a row of `entry` must meet to be searchable: its filter, and an existing, searchable parent.
 * With `filters` false, only that its parents exist (a row that does is hidden, not gone).
 */
export function visibleWhere(registry: Registry, entry: ContentType, filters = true): SQL | undefined {
  const own = filters ? entry.filter?.where : undefined;
  if (!entry.parent) return own;
  const parent = registry.byType(entry.parent.type)!;
  const parentVisible = visibleWhere(registry, parent, filters);
  const parentSearchable = sql`EXISTS (SELECT 1 FROM ${parent.table} WHERE ${parent.idColumn} = ${entry.parent.foreignKey}${
    parentVisible ? sql` AND ${parentVisible}` : sql``
  })`;
  return and(own, entry.parent.optional ? sql`(${entry.parent.foreignKey} IS NULL OR ${parentSearchable})` : parentSearchable);
}

// Defaults a privacy reviewer signs: no e-mail is embedded or shown; users are found by the admin
// only; a profile's bio is neither embedded nor shown (createRegistry: what the search token may find
// embeds nothing it may not see).
export const defaultRegistry: ContentType[] = [
  contentType({
    type: "profile",
    table: profiles,
    idColumn: profiles.id,
    priority: 2,
    embedded: [profiles.username, profiles.fullName, profiles.headline, profiles.skills],
    // A deleted user's profile leaves search with the user.
    parent: { type: "auth_user", foreignKey: profiles.userId, optional: true },
    format: (p) =>
      labelled([
        ["", p.fullName ?? p.username],
        ["Headline", p.headline],
        ["Skills", p.skills],
      ]),
    search: { public: true, snippet: [profiles.username, profiles.fullName, profiles.headline, profiles.skills] },
  }),
  contentType({
    type: "auth_user",
    table: users,
    idColumn: users.id,
    priority: 2,
    embedded: [users.fullName],
    format: (u) => labelled([["", u.fullName]]),
    search: { public: false, snippet: [users.fullName] },
  }),
  contentType({
    type: "course",
    table: course,
    idColumn: course.id,
    priority: 2,
    embedded: [course.title, course.description, course.category, course.tags, course.requirements, course.learningObjectives],
    filter: { fields: [course.published], where: eq(course.published, true) },
    format: (c) =>
      labelled([
        ["", c.title],
        ["Category", c.category],
        ["Tags", c.tags],
        ["", c.description],
        ["Requirements", c.requirements],
        ["You will learn", c.learningObjectives],
      ]),
    search: {
      public: true,
      snippet: [course.title, course.description, course.category, course.tags, course.requirements, course.learningObjectives],
      filters: { category: course.category, createdAt: course.createdAt },
    },
  }),
  contentType({
    type: "lesson",
    table: courseLesson,
    idColumn: courseLesson.id,
    priority: 3,
    embedded: [courseLesson.title, courseLesson.content],
    parent: { type: "course", foreignKey: courseLesson.courseId },
    format: (l) => [l.title, l.content].filter(Boolean).join("\n\n"),
    search: {
      public: true,
      snippet: [courseLesson.title, courseLesson.content],
      filters: { courseId: courseLesson.courseId, createdAt: courseLesson.createdAt },
    },
  }),
  contentType({
    type: "post",
    table: communityPost,
    idColumn: communityPost.id,
    priority: 4,
    embedded: [communityPost.title, communityPost.body],
    format: (p) => [p.title, p.body].filter(Boolean).join("\n\n"),
    search: {
      public: true,
      snippet: [communityPost.title, communityPost.body],
      filters: { authorId: communityPost.authorId, createdAt: communityPost.createdAt },
    },
  }),
  contentType({
    type: "comment",
    table: communityComment,
    idColumn: communityComment.id,
    priority: 5,
    embedded: [communityComment.body],
    // A deleted post's comments leave search with it.
    parent: { type: "post", foreignKey: communityComment.postId, optional: true },
    format: (c) => c.body,
    search: {
      public: true,
      snippet: [communityComment.body],
      filters: { postId: communityComment.postId, authorId: communityComment.authorId, createdAt: communityComment.createdAt },
    },
  }),
];

/** Looks content types up by name and by source table. */
export type Registry = {
  entries: ContentType[];
  byType(type: string): ContentType | undefined;
  byTable(table: string): ContentType | undefined;
};

export function createRegistry(entries: ContentType[] = defaultRegistry): Registry {
  const types = new Map(entries.map((e) => [e.type, e]));
  const tables = new Map(entries.map((e) => [getTableName(e.table), e]));
  for (const entry of entries) {
    // enqueue and search accept only such names (schema/messages.ts): a type named otherwise could be
    // captured by its triggers but never named by a webhook, a backfill or a search.
    if (!CONTENT_TYPE_NAME.test(entry.type)) {
      const suggestion =
        entry.type
          .toLowerCase()
          .replace(/[^a-z0-9_]+/g, "_")
          .replace(/^[^a-z]+/, "")
          .slice(0, 63) || "post";
      throw new Error(
        `content type "${entry.type}": a name is a lower-case letter, then lower-case letters, digits or _, 63 characters at most (e.g. "${suggestion}")`,
      );
    }
    if (entries.filter((e) => e.type === entry.type).length > 1) {
      throw new Error(`content type "${entry.type}" is registered twice: each type has one entry`);
    }
    if (!TEXT_CONFIG_NAME.test(textConfigOf(entry))) {
      throw new Error(`content type ${entry.type}: search.textConfig "${textConfigOf(entry)}" is not a text search configuration name`);
    }
    // Exact scores are an oracle: a search token that finds a row by a field it never sees can recover
    // the field by guessing (a 4-digit PIN in 10,000 queries). A public type shows all it embeds.
    const hidden = entry.search.public ? entry.embedded.filter((column) => !entry.search.snippet.includes(column)) : [];
    if (hidden.length) {
      throw new Error(
        `content type ${entry.type}: the search token would find it by ${hidden.map((c) => c.name).join(", ")}, which its snippet does not show, and scores would tell what they hold; add them to search.snippet, stop embedding them, or make the type admin-only (search.public: false)`,
      );
    }
    const filters = filterFieldsOf(entry);
    const badName = filters.find((f) => !FILTER_NAME.test(f.name));
    if (badName)
      throw new Error(`content type ${entry.type}: search filter name "${badName.name}" must be letters, digits and _ (a letter first)`);
    if (filters.filter((f) => f.kind === "date").length > 1) {
      throw new Error(`content type ${entry.type}: search.filters has more than one date field; a type may filter by one date range`);
    }
    // A parent is another registered type, never the entry itself nor its descendant (the SQL nests).
    const seen = new Set([entry.type]);
    for (let parent = entry.parent; parent; parent = types.get(parent.type)?.parent) {
      if (!types.has(parent.type)) throw new Error(`content type ${entry.type}: parent type "${parent.type}" is not registered`);
      if (seen.has(parent.type)) throw new Error(`content type ${entry.type}: its parents form a cycle through "${parent.type}"`);
      seen.add(parent.type);
    }
  }
  return { entries, byType: (t) => types.get(t), byTable: (t) => tables.get(t) };
}

/** The given columns of the entry's table by their property names, with the id column as `id` too. */
export function columnsOf(entry: ContentType, columns: AnyPgColumn[]): Record<string, AnyPgColumn> {
  const wanted = new Set([entry.idColumn, ...columns]);
  return Object.fromEntries(Object.entries(getTableColumns(entry.table)).filter(([, column]) => wanted.has(column)));
}

/** The property name of the entry's id column in a selected row. */
export function idKey(entry: ContentType): string {
  return Object.entries(getTableColumns(entry.table)).find(([, column]) => column === entry.idColumn)?.[0] ?? "id";
}

/** What a valid id of this content type looks like, from its id column's SQL type. */
export function idPattern(entry: ContentType): RegExp {
  const sqlType = entry.idColumn.getSQLType();
  if (sqlType === "uuid") return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  if (/int|serial/.test(sqlType)) return /^-?\d{1,19}$/;
  return /^[^\u0000]{1,200}$/;
}

/** The id as the database returns it (uuids in lower case), so every path names a row the same way. */
export function normalizeId(entry: ContentType, id: string): string {
  return entry.idColumn.getSQLType() === "uuid" ? id.toLowerCase() : id;
}
