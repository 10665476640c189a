// Search filters through the pipeline: a row's filter fields (registry `search.filters`) are written
// with its vectors, follow its changes without re-embedding it, narrow every mode's halves, and a bad
// filter is a 400 that names it. Scope rules still apply under any filter.
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFunctionApp } from "../functions/app";
import { loadConfig } from "../functions/config";
import { processItems } from "../functions/core/process";
import { rowsOf } from "../functions/db/database";
import type { Deps } from "../functions/deps";
import { localEmbedder } from "../functions/embedders/local";
import { communityPost, course, courseLesson } from "../schema";
import { createRegistry } from "../schema/registry";
import type { Connection } from "../scripts/lib/database";
import { freshDatabase } from "./support/database";

const TOKENS = { SEARCH_TOKEN: "search-token-f", ADMIN_TOKEN: "admin-token-f" };
const MODES = ["hybrid", "vector", "keyword"] as const;

let connection: Connection;
let deps: Deps;
const ids: Record<string, string> = {};
beforeAll(async () => {
  connection = await freshDatabase();
  deps = { db: connection.db, config: loadConfig(TOKENS), registry: createRegistry(), embedder: localEmbedder(1536) };
  const courses = await connection.db
    .insert(course)
    .values([
      { title: "Guitar for beginners", published: true },
      { title: "Piano for beginners", published: true },
      { title: "Secret draft course", published: false },
    ])
    .returning();
  [ids.guitar, ids.piano, ids.draft] = courses.map((c) => c.id) as [string, string, string];
  const lessons = await connection.db
    .insert(courseLesson)
    .values([
      { courseId: ids.guitar!, title: "Chords practice", content: "Practice chords every day." },
      { courseId: ids.guitar!, title: "Strumming practice", content: "Practice strumming with a metronome." },
      { courseId: ids.piano!, title: "Scales practice", content: "Practice scales with both hands." },
      { courseId: ids.draft!, title: "Draft practice", content: "Practice something secret." },
    ])
    .returning();
  [ids.chords, ids.strumming, ids.scales, ids.draftLesson] = lessons.map((l) => l.id) as [string, string, string, string];
  const author = "6f1c2c8e-0000-4000-8000-000000000001";
  ids.author = author;
  const posts = await connection.db
    .insert(communityPost)
    .values([
      { authorId: author, title: "My practice log", body: "Practice went well.", createdAt: new Date("2026-03-01T10:00:00Z") },
      { authorId: author, title: "Older practice log", body: "Practice went badly.", createdAt: new Date("2025-03-01T10:00:00Z") },
      { title: "Someone else's practice", body: "Practice daily.", createdAt: new Date("2026-03-02T10:00:00Z") },
    ])
    .returning();
  [ids.recent, ids.older, ids.other] = posts.map((p) => p.id) as [string, string, string];
  await processItems(deps, [
    ...courses.map((c) => ({ contentType: "course", contentId: c.id })),
    ...lessons.map((l) => ({ contentType: "lesson", contentId: l.id })),
    ...posts.map((p) => ({ contentType: "post", contentId: p.id })),
  ]);
});
afterAll(() => connection.close());

const post = (body: unknown, token = TOKENS.SEARCH_TOKEN) =>
  createFunctionApp("search", deps).request("/api/embeddings/search", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
const found = async (body: unknown) => {
  const response = await post(body);
  expect(response.status).toBe(200);
  const { results } = (await response.json()) as { results: { contentType: string; contentId: string }[] };
  return results.map((hit) => hit.contentId).sort();
};
const sorted = (...values: (string | undefined)[]) => values.map(String).sort();

describe("filters stored with the chunk", () => {
  it("writes each row's filter fields with its vectors: equal values as JSON, the date in filter_date", async () => {
    const rows = await rowsOf<{ content_id: string; filters: Record<string, unknown>; filter_date: string | Date | null }>(
      connection.db.execute(
        sql`SELECT content_id, filters, filter_date FROM embeddings WHERE content_id IN (${ids.chords}, ${ids.recent}, ${ids.other})`,
      ),
    );
    const byId = new Map(rows.map((row) => [row.content_id, row]));
    expect(byId.get(ids.chords!)!.filters).toEqual({ courseId: ids.guitar });
    expect(byId.get(ids.recent!)!.filters).toEqual({ authorId: ids.author });
    expect(byId.get(ids.other!)!.filters).toEqual({});
    expect(new Date(byId.get(ids.recent!)!.filter_date!).toISOString()).toBe("2026-03-01T10:00:00.000Z");
  });

  it("follows a row's change of filter field without embedding it again", async () => {
    await connection.db.update(courseLesson).set({ courseId: ids.piano! }).where(eq(courseLesson.id, ids.strumming!));
    const result = await processItems(deps, [{ contentType: "lesson", contentId: ids.strumming! }]);
    expect(result).toMatchObject({ embedded: 0, unchanged: 1 });
    expect(await found({ query: "practice", mode: "keyword", filters: { courseId: ids.piano } })).toEqual(
      sorted(ids.scales, ids.strumming),
    );
    await connection.db.update(courseLesson).set({ courseId: ids.guitar! }).where(eq(courseLesson.id, ids.strumming!));
    await processItems(deps, [{ contentType: "lesson", contentId: ids.strumming! }]);
  });
});

describe.each(MODES)("%s search under filters", (mode) => {
  it("keeps only the rows whose fields match, of the types that have the filter", async () => {
    // Only lessons have courseId: the others are left out without being named.
    expect(await found({ query: "practice", mode, filters: { courseId: ids.guitar } })).toEqual(sorted(ids.chords, ids.strumming));
    expect(await found({ query: "practice", mode, filters: { courseId: [ids.piano, ids.guitar!.toUpperCase()] } })).toEqual(
      sorted(ids.chords, ids.strumming, ids.scales),
    );
    expect(await found({ query: "practice", mode, filters: { authorId: ids.author } })).toEqual(sorted(ids.recent, ids.older));
    expect(
      await found({ query: "practice", mode, types: ["post"], filters: { authorId: ids.author, createdAt: { from: "2026-01-01" } } }),
    ).toEqual(sorted(ids.recent));
    expect(await found({ query: "practice", mode, types: ["post"], filters: { createdAt: { to: "2026-03-02T10:00:00Z" } } })).toEqual(
      sorted(ids.recent, ids.older),
    );
  });

  it("never finds what the scope hides: a draft course's lessons, by their course id", async () => {
    expect(await found({ query: "practice", mode, filters: { courseId: ids.draft } })).toEqual([]);
  });
});

describe("a bad filter is a 400 that names it", () => {
  it.each([
    [{ filters: { nope: "x" } }, "filters.nope: no content type you may search has this filter"],
    [{ types: ["course"], filters: { courseId: "x" } }, "filters.courseId: not a filter of course"],
    [{ filters: { courseId: { from: "2026-01-01" } } }, "filters.courseId: a range is only for a date field"],
    [{ filters: { createdAt: "2026-01-01" } }, "filters.createdAt: is a date: give a range {from, to}"],
    [{ filters: { createdAt: { from: "yesterday" } } }, "filters.createdAt"],
    [{ filters: { createdAt: {} } }, "filters.createdAt"],
    [{ filters: { courseId: 5 } }, "filters.courseId: must be a string"],
    [{ filters: { courseId: [] } }, "filters.courseId"],
    [{ filters: { "bad name": "x" } }, "filters"],
  ])("%j", async (body, message) => {
    const response = await post({ query: "practice", ...body });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toContain(message);
  });
});
