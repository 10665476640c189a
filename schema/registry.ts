// The content registry: one entry per content type says where its rows live, which fields matter,
// how a row becomes text, and how urgent it is. Trigger SQL is generated from this list.
import { eq, getTableName, type SQL } from "drizzle-orm";
import type { AnyPgColumn, PgTable } from "drizzle-orm/pg-core";
import { communityComment, communityPost, course, courseLesson, profiles, users } from "./source-tables";

/** Backfills and re-embedding: behind every live lane (priorities 1–5), so they never delay a change. */
export const BACKGROUND_PRIORITY = 9;

export type ContentType<T extends PgTable = PgTable> = {
  /** The name used in the queue, the embeddings table and the API. */
  type: string;
  table: T;
  idColumn: AnyPgColumn;
  /** Fields whose change needs a new embedding; an update that changes none of them is dropped. */
  watched: AnyPgColumn[];
  /** Rows that should be searchable; others lose their embeddings. Its fields are watched too. */
  filter?: { fields: AnyPgColumn[]; where: SQL };
  priority: number;
  format: (row: T["$inferSelect"]) => string;
};

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

export const defaultRegistry: ContentType[] = [
  contentType({
    type: "profile", table: profiles, idColumn: profiles.id, priority: 2,
    watched: [profiles.username, profiles.fullName, profiles.headline, profiles.bio, profiles.skills],
    format: (p) => labelled([["", p.fullName ?? p.username], ["Headline", p.headline], ["Bio", p.bio], ["Skills", p.skills]]),
  }),
  contentType({
    type: "auth_user", table: users, idColumn: users.id, priority: 2,
    watched: [users.email, users.fullName],
    format: (u) => labelled([["", u.fullName], ["Email", u.email]]),
  }),
  contentType({
    type: "course", table: course, idColumn: course.id, priority: 2,
    watched: [course.title, course.description, course.category, course.tags, course.requirements, course.learningObjectives],
    filter: { fields: [course.published], where: eq(course.published, true) },
    format: (c) => labelled([
      ["", c.title], ["Category", c.category], ["Tags", c.tags], ["", c.description],
      ["Requirements", c.requirements], ["You will learn", c.learningObjectives],
    ]),
  }),
  contentType({
    type: "lesson", table: courseLesson, idColumn: courseLesson.id, priority: 3,
    watched: [courseLesson.title, courseLesson.content],
    format: (l) => [l.title, l.content].filter(Boolean).join("\n\n"),
  }),
  contentType({
    type: "post", table: communityPost, idColumn: communityPost.id, priority: 4,
    watched: [communityPost.title, communityPost.body],
    format: (p) => [p.title, p.body].filter(Boolean).join("\n\n"),
  }),
  contentType({
    type: "comment", table: communityComment, idColumn: communityComment.id, priority: 5,
    watched: [communityComment.body],
    format: (c) => c.body,
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
  return { entries, byType: (t) => types.get(t), byTable: (t) => tables.get(t) };
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
