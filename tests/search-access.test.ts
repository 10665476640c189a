// Who may search, and what search may return: closed unless opened, public types for the search token,
// every type for the admin, and of each row only what its registry entry lets leave the database.

import { and, eq, getTableColumns } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFunctionApp } from "../functions/app";
import { loadConfig } from "../functions/config";
import { processItems } from "../functions/core/process";
import type { Deps } from "../functions/deps";
import { drain } from "../functions/drain";
import { localEmbedder } from "../functions/embedders/local";
import { course, courseLesson, embeddingQueue, embeddings, profiles, searchLog, users } from "../schema";
import { columnsOf, contentType, createRegistry, defaultRegistry } from "../schema/registry";
import type { Connection } from "../scripts/lib/database";
import { freshDatabase } from "./support/database";
import { testDeps } from "./support/deps";

let connection: Connection;
beforeAll(async () => {
  connection = await freshDatabase();
});
afterAll(() => connection.close());

const depsWith = (env: Record<string, string>): Deps => testDeps(connection.db, { env });
const searchAs = (deps: Deps, body: unknown, headers: Record<string, string> = {}) =>
  createFunctionApp("search", deps).request("/api/embeddings/search", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
type Hit = { contentType: string; contentId: string; score: number; snippet: string };
const hits = async (response: Response) => ((await response.json()) as { results: Hit[] }).results;

describe("search is closed unless opened", () => {
  it("answers 401 without SEARCH_TOKEN and says how to set it", async () => {
    const response = await searchAs(depsWith({}), { query: "anything" });
    expect(response.status).toBe(401);
    const { error } = (await response.json()) as { error: string };
    expect(error).toMatch(/SEARCH_TOKEN/);
    expect(error).toMatch(/SEARCH_PUBLIC=true/);
  });

  it("SEARCH_PUBLIC=true opens it on purpose; a wrong token is still refused", async () => {
    const deps = depsWith({ SEARCH_PUBLIC: "true" });
    expect((await searchAs(deps, { query: "anything" })).status).toBe(200);
    expect((await searchAs(deps, { query: "anything" }, { authorization: "Bearer wrong" })).status).toBe(401);
    expect(() => loadConfig({ SEARCH_PUBLIC: "yes" })).toThrow(/SEARCH_PUBLIC must be true or false/);
  });

  it("SEARCH_PUBLIC=true has a rate limit: past it, anonymous searches get 429 and cost nothing; tokens still search", async () => {
    const calls: string[][] = [];
    const local = localEmbedder(1536);
    const deps = {
      ...depsWith({ SEARCH_PUBLIC: "true", SEARCH_TOKEN: "search-token-2", SEARCH_PUBLIC_PER_MINUTE: "5" }),
      embedder: { ...local, embed: (texts: string[]) => (calls.push(texts), local.embed(texts)) },
    };
    await connection.db.delete(searchLog);
    // Five searches in the last minute, whoever made them: the limit is reached.
    await connection.db.insert(searchLog).values(Array.from({ length: 5 }, () => ({ query: "earlier", resultCount: 0, milliseconds: 1 })));
    const refused = await searchAs(deps, { query: "one more" });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("60");
    expect(((await refused.json()) as { error: string }).error).toMatch(/SEARCH_PUBLIC_PER_MINUTE/);
    expect(calls).toEqual([]);
    expect((await searchAs(deps, { query: "with the token" }, { authorization: "Bearer search-token-2" })).status).toBe(200);
    // A minute later the window has moved on.
    await connection.db.update(searchLog).set({ createdAt: new Date(Date.now() - 120_000) });
    expect((await searchAs(deps, { query: "later" })).status).toBe(200);
  });

  it("keeps search_log small: a query is logged by its first 200 characters", async () => {
    const deps = depsWith({ SEARCH_PUBLIC: "true" });
    await connection.db.delete(searchLog);
    expect((await searchAs(deps, { query: "x".repeat(2000) })).status).toBe(200);
    const [row] = await connection.db.select().from(searchLog);
    expect(row!.query).toHaveLength(200);
  });

  it("with SEARCH_TOKEN, needs it or the admin token", async () => {
    const deps = depsWith({ SEARCH_TOKEN: "search-token-1", ADMIN_TOKEN: "admin-token-1" });
    expect((await searchAs(deps, { query: "anything" })).status).toBe(401);
    expect((await searchAs(deps, { query: "anything" }, { authorization: "Bearer admin-token-1x" })).status).toBe(401);
    expect((await searchAs(deps, { query: "anything" }, { authorization: "Bearer search-token-1" })).status).toBe(200);
    expect((await searchAs(deps, { query: "anything" }, { authorization: "Bearer admin-token-1" })).status).toBe(200);
  });
});

describe("what may leave the database", () => {
  const tokens = { SEARCH_TOKEN: "search-token-2", ADMIN_TOKEN: "admin-token-2" };
  const publicSearch = { authorization: "Bearer search-token-2" };
  const adminSearch = { authorization: "Bearer admin-token-2" };

  it.each(defaultRegistry.map((entry) => [entry.type, entry] as const))(
    "%s: the text is made of its embedded fields only",
    (_type, entry) => {
      // Every column holds a value naming it; the text must come out the same from the embedded ones alone.
      const full: Record<string, unknown> = {};
      for (const [key, column] of Object.entries(getTableColumns(entry.table))) {
        full[key] =
          column.dataType === "array"
            ? [`${key}-marker`]
            : column.dataType === "boolean"
              ? true
              : column.dataType === "number"
                ? 7
                : column.dataType === "date"
                  ? new Date(0)
                  : `${key}-marker`;
      }
      const embeddedOnly = Object.fromEntries(Object.keys(columnsOf(entry, entry.embedded)).map((key) => [key, full[key]]));
      const text = entry.format(full as never);
      expect(text).toBe(entry.format(embeddedOnly as never));
      for (const key of Object.keys(full).filter((k) => !(k in embeddedOnly))) expect(text).not.toContain(`${key}-marker`);
    },
  );

  it("embeds no e-mail, keeps users out of public search, and lets the admin find them without e-mail", async () => {
    const deps = depsWith(tokens);
    const [user] = await connection.db.insert(users).values({ email: "ada.lovelace@example.com", fullName: "Ada Lovelace" }).returning();
    await processItems(deps, [{ contentType: "auth_user", contentId: user!.id }]);
    const stored = await connection.db.select().from(embeddings);
    expect(stored.map((row) => row.contentId)).toContain(user!.id);
    expect(stored.map((row) => row.chunkText).join(" ")).not.toContain("example.com");

    expect((await hits(await searchAs(deps, { query: "Ada Lovelace" }, publicSearch))).map((hit) => hit.contentType)).not.toContain(
      "auth_user",
    );
    const refused = await searchAs(deps, { query: "Ada Lovelace", types: ["auth_user"] }, publicSearch);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toMatch(/auth_user/);
    const found = await hits(await searchAs(deps, { query: "Ada Lovelace", types: ["auth_user"] }, adminSearch));
    expect(found).toEqual([expect.objectContaining({ contentType: "auth_user", contentId: user!.id, snippet: "Ada Lovelace" })]);
  });

  it("gives the search token no score to learn a hidden field from: a profile's bio is not embedded", async () => {
    const deps = depsWith(tokens);
    const [plain, secret] = await connection.db
      .insert(profiles)
      .values([
        { username: "grace1", fullName: "Grace Hopper", headline: "Rear admiral", bio: "Nothing to say" },
        { username: "grace1", fullName: "Grace Hopper", headline: "Rear admiral", bio: "PIN 4711; diagnosed with asthma" },
      ])
      .returning();
    await processItems(
      deps,
      [plain!, secret!].map((p) => ({ contentType: "profile", contentId: p.id })),
    );
    // Guessing at the hidden bio moves neither score: both profiles answer alike. By vector scores alone:
    // a hybrid answer's fused scores follow rank, and two equal rows take two ranks.
    const found = await hits(
      await searchAs(deps, { query: "Grace Hopper PIN 4711 asthma", types: ["profile"], mode: "vector" }, publicSearch),
    );
    const scores = new Map(found.map((h) => [h.contentId, h.score]));
    expect(scores.get(secret!.id)).toBeDefined();
    expect(scores.get(secret!.id)).toBe(scores.get(plain!.id));
    for (const hit of found) expect(hit.snippet).not.toMatch(/4711|asthma/);
  });

  it("refuses a registry whose public type embeds a field its snippet does not show", () => {
    const [profileEntry] = defaultRegistry;
    const leaky = contentType({
      ...profileEntry!,
      parent: undefined,
      embedded: [profiles.username, profiles.bio],
      search: { public: true, snippet: [profiles.username] },
    });
    expect(() => createRegistry([leaky])).toThrow(/profile.*bio.*snippet/);
    expect(() => createRegistry([{ ...leaky, search: { public: false, snippet: [profiles.username] } }])).not.toThrow();
  });
});

describe("visibility follows parents", () => {
  const deps = () => depsWith({ SEARCH_TOKEN: "search-token-3" });
  const lessonChunks = (id: string) =>
    connection.db.$count(embeddings, and(eq(embeddings.contentType, "lesson"), eq(embeddings.contentId, id)));
  const queuedLessons = async () =>
    (
      await connection.db
        .select()
        .from(embeddingQueue)
        .where(and(eq(embeddingQueue.contentType, "lesson"), eq(embeddingQueue.status, "pending")))
    ).map((row) => [row.contentId, row.priority]);

  it("embeds a lesson only while its course exists and is published", async () => {
    const [published] = await connection.db.insert(course).values({ title: "Published course" }).returning();
    const [draft] = await connection.db.insert(course).values({ title: "Draft course", published: false }).returning();
    const lessons = await connection.db
      .insert(courseLesson)
      .values([
        { courseId: published!.id, title: "Lesson of a published course" },
        { courseId: draft!.id, title: "Lesson of a draft course" },
        { courseId: null, title: "Lesson of no course" },
      ])
      .returning();
    const result = await processItems(
      deps(),
      lessons.map((l) => ({ contentType: "lesson", contentId: l.id })),
    );
    expect(result.deleted).toBe(2);
    expect(await Promise.all(lessons.map((l) => lessonChunks(l.id)))).toEqual([1, 0, 0]);
  });

  it("unpublishing or deleting a course queues its lessons at the course's priority, and the drain takes them out", async () => {
    const [kept, unpublished, deleted] = await connection.db
      .insert(course)
      .values([{ title: "Kept" }, { title: "Unpublished" }, { title: "Deleted" }])
      .returning();
    const lessons = await connection.db
      .insert(courseLesson)
      .values([kept!, unpublished!, deleted!].map((c) => ({ courseId: c.id, title: `Lesson of ${c.title}` })))
      .returning();
    await drain(deps());
    expect(await Promise.all(lessons.map((l) => lessonChunks(l.id)))).toEqual([1, 1, 1]);

    // A title edit changes nothing of the lessons' visibility: they are not queued.
    await connection.db.update(course).set({ title: "Kept, renamed" }).where(eq(course.id, kept!.id));
    expect(await queuedLessons()).toEqual([]);
    await connection.db.update(course).set({ published: false }).where(eq(course.id, unpublished!.id));
    await connection.db.delete(course).where(eq(course.id, deleted!.id));
    const course2 = defaultRegistry.find((e) => e.type === "course")!.priority;
    expect((await queuedLessons()).sort()).toEqual(
      [
        [lessons[1]!.id, course2],
        [lessons[2]!.id, course2],
      ].sort(),
    );
    await drain(deps());
    expect(await Promise.all(lessons.map((l) => lessonChunks(l.id)))).toEqual([1, 0, 0]);

    // Published again: the lesson comes back the same way.
    await connection.db.update(course).set({ published: true }).where(eq(course.id, unpublished!.id));
    await drain(deps());
    expect(await lessonChunks(lessons[1]!.id)).toBe(1);
  });

  it("refuses a registry whose parent is unknown or circular", () => {
    const lesson = defaultRegistry.find((e) => e.type === "lesson")!;
    expect(() => createRegistry([{ ...lesson, parent: { type: "module", foreignKey: courseLesson.courseId } }])).toThrow(
      /parent type "module" is not registered/,
    );
    const circular = [
      contentType({ ...lesson, type: "a", parent: { type: "b", foreignKey: courseLesson.courseId } }),
      contentType({ ...lesson, type: "b", parent: { type: "a", foreignKey: courseLesson.courseId } }),
    ];
    expect(() => createRegistry(circular)).toThrow(/cycle/);
  });
});

describe("a query without letters", () => {
  it("gets numeric scores on the local embedder, and minScore applies", async () => {
    const deps = depsWith({ SEARCH_TOKEN: "search-token-4" });
    const [c] = await connection.db.insert(course).values({ title: "Punctuation and symbols" }).returning();
    await processItems(deps, [{ contentType: "course", contentId: c!.id }]);
    const all = await hits(await searchAs(deps, { query: "?!? ... ---", minScore: -1 }, { authorization: "Bearer search-token-4" }));
    expect(all.length).toBeGreaterThan(0);
    for (const hit of all) expect(typeof hit.score).toBe("number");
    const strict = await hits(await searchAs(deps, { query: "?!? ... ---", minScore: 0.5 }, { authorization: "Bearer search-token-4" }));
    expect(strict).toEqual([]);
  });
});
