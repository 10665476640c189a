// Hybrid search (functions/search/): the keyword half over Postgres full text with each type's text
// search configuration, reciprocal rank fusion of the two halves, and every scope rule in both.
import { desc, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFunctionApp } from "../functions/app";
import { processItems } from "../functions/core/process";
import { rowsOf } from "../functions/db/database";
import type { Deps } from "../functions/deps";
import { embedLocally } from "../functions/embedders/local";
import { maintain } from "../functions/maintenance";
import { search } from "../functions/search";
import { fuseRankings } from "../functions/search/fusion";
import { configGroups, keywordChunks } from "../functions/search/keyword";
import { DEFAULT_FUSION, fusionDepth } from "../functions/search/modes";
import { realignTextConfigs } from "../functions/search/text-config";
import { communityPost, course, courseLesson, embeddings, profiles, searchLog, TEXT_SEARCH_INDEX, users } from "../schema";
import { createRegistry, defaultRegistry } from "../schema/registry";
import type { Connection } from "../scripts/lib/database";
import { freshDatabase } from "./support/database";
import { testDeps } from "./support/deps";

const TOKENS = { SEARCH_TOKEN: "search-token-h", ADMIN_TOKEN: "admin-token-h" };
const publicSearch = { authorization: `Bearer ${TOKENS.SEARCH_TOKEN}` };
const adminSearch = { authorization: `Bearer ${TOKENS.ADMIN_TOKEN}` };
// Posts are matched by words as written; every other type by English stems (the default).
const registry = createRegistry(
  defaultRegistry.map((entry) => (entry.type === "post" ? { ...entry, search: { ...entry.search, textConfig: "simple" } } : entry)),
);

let connection: Connection;
let deps: Deps;
beforeAll(async () => {
  connection = await freshDatabase();
  deps = testDeps(connection.db, { env: TOKENS, registry });
});
afterAll(() => connection.close());

type Hit = { contentType: string; contentId: string; score: number; snippet: string; vectorScore?: number; keywordScore?: number };
const searchAs = (body: unknown, headers: Record<string, string> = publicSearch) =>
  createFunctionApp("search", deps).request("/api/embeddings/search", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
const answer = async (body: unknown, headers?: Record<string, string>) => {
  const response = await searchAs(body, headers);
  expect(response.status).toBe(200);
  return (await response.json()) as { mode: string; results: Hit[]; reembedding?: { models: string[] } };
};
const ids = async (body: unknown, headers?: Record<string, string>) => (await answer(body, headers)).results.map((hit) => hit.contentId);

describe("keyword mode", () => {
  let spanish: string;
  let baking: string;
  beforeAll(async () => {
    const [c] = await connection.db
      .insert(course)
      .values({ title: "Learning Spanish grammar", description: "Verbs, conjugations and the subjunctive." })
      .returning();
    const [p] = await connection.db
      .insert(communityPost)
      .values({ title: "Learning to bake", body: "Sourdough, rye and a Spanish tortilla on Sundays." })
      .returning();
    spanish = c!.id;
    baking = p!.id;
    await processItems(deps, [
      { contentType: "course", contentId: spanish },
      { contentType: "post", contentId: baking },
    ]);
  });

  it("stores each type's configuration with its chunks and parses the query with it", async () => {
    const configs = await rowsOf<{ content_type: string; text_config: string }>(
      connection.db.execute(sql`SELECT DISTINCT content_type, text_config::text FROM embeddings ORDER BY 1`),
    );
    expect(configs).toEqual([
      { content_type: "course", text_config: "english" },
      { content_type: "post", text_config: "simple" },
    ]);
    // 'english' stems "Learning" to "learn"; 'simple' keeps "learning" as written.
    expect(await ids({ query: "learn", mode: "keyword" })).toEqual([spanish]);
    expect((await ids({ query: "learning", mode: "keyword" })).sort()).toEqual([spanish, baking].sort());
  });

  it("takes web search syntax, ranks best first in [0, 1), and finds nothing for stop words alone", async () => {
    expect(await ids({ query: '"spanish grammar"', mode: "keyword" })).toEqual([spanish]);
    expect(await ids({ query: "learning -grammar", mode: "keyword" })).toEqual([baking]);
    expect(await ids({ query: "spanish", mode: "keyword", types: ["post"] })).toEqual([baking]);
    const { mode, results } = await answer({ query: "spanish", mode: "keyword" });
    expect(mode).toBe("keyword");
    expect(results).toHaveLength(2);
    for (const hit of results) expect(hit.score > 0 && hit.score < 1).toBe(true);
    expect(results[0]!.score).toBeGreaterThanOrEqual(results[1]!.score);
    expect(await ids({ query: "the and of", mode: "keyword" })).toEqual([]);
    expect(await ids({ query: "(((", mode: "keyword" })).toEqual([]);
  });

  it("is served through the GIN index, on either database", async () => {
    const plan = await connection.db.transaction(async (tx) => {
      // The table is tiny: without this the planner reads it whole, which says nothing of the index.
      await tx.execute(sql`SET LOCAL enable_seqscan = off`);
      // All types of one configuration: the full text is the only condition (with types, the tiny table's btree wins).
      const query = keywordChunks("spanish grammar", configGroups(createRegistry(), undefined), 40);
      return rowsOf<{ "QUERY PLAN": string }>(tx.execute(sql`EXPLAIN ${query}`));
    });
    const text = plan.map((row) => row["QUERY PLAN"]).join("\n");
    expect(text.match(new RegExp(`Bitmap Index Scan on ${TEXT_SEARCH_INDEX}`, "g"))).toHaveLength(1);
  });

  it("realigns rows to a type's new configuration in maintenance, a bounded batch a run", async () => {
    const simpleCourses = createRegistry(
      registry.entries.map((entry) => (entry.type === "course" ? { ...entry, search: { ...entry.search, textConfig: "simple" } } : entry)),
    );
    // Stored with 'english': the stem "learn" matches; with 'simple' only "learning" as written would.
    expect(await ids({ query: "learn", mode: "keyword", types: ["course"] })).toEqual([spanish]);
    expect(await realignTextConfigs(connection.db, simpleCourses, 0)).toBe(0);
    expect((await maintain({ ...deps, registry: simpleCourses })).textConfigsRealigned).toBe(1);
    expect(await realignTextConfigs(connection.db, simpleCourses)).toBe(0);
    const [row] = await rowsOf<{ text_search: string }>(
      connection.db.execute(sql`SELECT text_search::text FROM embeddings WHERE content_id = ${spanish}`),
    );
    expect(row!.text_search).toContain("'learning'");
    await realignTextConfigs(connection.db, registry);
  });

  it("groups types by configuration, and needs no type condition when all share one", () => {
    expect(configGroups(registry, ["course", "post", "lesson"])).toEqual([
      { config: "english", types: ["course", "lesson"] },
      { config: "simple", types: ["post"] },
    ]);
    expect(configGroups(createRegistry(), undefined)).toEqual([{ config: "english" }]);
    expect(() =>
      createRegistry(defaultRegistry.map((e) => ({ ...e, search: { ...e.search, textConfig: "english'; DROP TABLE x; --" } }))),
    ).toThrow(/not a text search configuration name/);
  });
});

describe("hybrid mode", () => {
  beforeAll(async () => {
    const rows = await connection.db
      .insert(communityPost)
      .values(
        Array.from({ length: 30 }, (_, i) => ({
          title: `Practice log ${i}`,
          body: `${i % 3 ? "violin scales and bowing" : "cello"} practice, week ${i}${i % 4 ? " metronome" : ""}`,
        })),
      )
      .returning();
    await processItems(
      deps,
      rows.map((row) => ({ contentType: "post", contentId: row.id })),
    );
  });

  it("is the default, and fuses the two rankings by reciprocal rank with the request's k and weights", async () => {
    const query = "violin metronome";
    for (const [fusion, limit] of [
      [{}, 5],
      [{ k: 1, vector: 2, keyword: 0.5 }, 10],
    ] as const) {
      const depth = fusionDepth(limit);
      const vector = await ids({ query, mode: "vector", limit: depth });
      const keyword = await ids({ query, mode: "keyword", limit: depth });
      const { k, vector: wv, keyword: wk } = { k: 60, vector: 1, keyword: 1, ...fusion };
      // The method's formula, written out here: a row's score sums weight / (k + rank) over the rankings it is in.
      const expected = new Map<string, number>();
      for (const [list, weight] of [
        [vector, wv],
        [keyword, wk],
      ] as const) {
        for (const [i, id] of list.entries()) expected.set(id, (expected.get(id) ?? 0) + weight / (k + i + 1));
      }
      const best = [...expected].sort((a, b) => b[1] - a[1]).slice(0, limit);
      const { mode, results } = await answer({ query, limit, fusion });
      expect(mode).toBe("hybrid");
      expect(results.map((hit) => hit.score)).toEqual(best.map(([, score]) => expect.closeTo(score, 12)));
      // Equal scores may come in either half's order: compare the rows of each score.
      expect(new Set(results.map((hit) => hit.contentId))).toEqual(new Set(best.map(([id]) => id)));
      for (const hit of results) {
        expect(hit.vectorScore !== undefined).toBe(vector.includes(hit.contentId));
        expect(hit.keywordScore !== undefined).toBe(keyword.includes(hit.contentId));
      }
    }
  });

  it("answers exactly as its two halves run apart and fused, scoped or not (one connection, the keyword half in the vector half's transaction)", async () => {
    for (const [query, limit, fusion, types] of [
      ["violin metronome", 5, DEFAULT_FUSION, undefined],
      ["cello practice", 10, { k: 1, vector: 2, keyword: 0.5 }, undefined],
      ["bowing week", 3, DEFAULT_FUSION, ["post"]],
    ] as const) {
      const depth = fusionDepth(limit);
      const half = async (mode: "vector" | "keyword") =>
        (await search(deps, { query, limit: depth, minScore: 0, mode, types: types && [...types] }, "admin")).results;
      const apart = fuseRankings(await half("vector"), await half("keyword"), fusion, limit);
      const together = await search(deps, { query, limit, minScore: 0, fusion, types: types && [...types] }, "admin");
      expect(apart.length).toBeGreaterThan(0);
      expect(together.results).toEqual(apart);
    }
  });

  it("with one weight at 0 answers as the other half alone", async () => {
    const query = "cello practice";
    expect(await ids({ query, fusion: { keyword: 0 } })).toEqual(await ids({ query, mode: "vector" }));
    expect(await ids({ query, fusion: { vector: 0 } })).toEqual(await ids({ query, mode: "keyword" }));
  });

  it("logs each search once, in the statement that reads its rows, with as many results as it answers", async () => {
    const bodies = [
      { query: "violin metronome", limit: 5 },
      // The vector half keeps nothing: the log counts the keyword half's rows (fewer than the limit).
      { query: "violin metronome", limit: 50, minScore: 0.99 },
      // minScore 0 leaves out the rows of a negative cosine; the keyword half's may be among them.
      { query: "cello practice", limit: 50 },
      { query: "cello practice", mode: "vector", minScore: 0.99 },
      { query: "cello practice", mode: "vector", limit: 7, types: ["post"] },
      { query: "cello week", mode: "keyword", limit: 50 },
      { query: "cello practice", fusion: { vector: 0 }, limit: 4 },
      { query: "cello practice", fusion: { keyword: 0 }, limit: 50 },
      { query: "zzzz", mode: "keyword" },
    ];
    const counts = [];
    for (const body of bodies) {
      const before = await connection.db.$count(searchLog);
      const { results } = await answer(body);
      expect(await connection.db.$count(searchLog)).toBe(before + 1);
      const [row] = await connection.db.select().from(searchLog).orderBy(desc(searchLog.id)).limit(1);
      expect([row!.query, row!.resultCount, row!.contentTypes]).toEqual([body.query, results.length, body.types ?? null]);
      expect(row!.milliseconds).toBeGreaterThanOrEqual(0);
      counts.push(results.length);
    }
    // Counts at, under and far under the limit, and none.
    expect(counts[0]).toBe(5);
    expect(counts[1]).toBeGreaterThan(0);
    expect(counts[1]).toBeLessThan(50);
    expect(counts[3]).toBe(0);
    expect(counts[8]).toBe(0);
  });

  it("finds by keyword the rows whose vectors are of another model, during a switch of embedder", async () => {
    const old = { contentType: "post", contentId: "switched-1", chunkIndex: 0, contentHash: "h", dimensions: 1536 };
    await connection.db.insert(embeddings).values({
      ...old,
      chunkText: "Aardvark husbandry for beginners",
      model: "text-embedding-ada-002",
      embedding: embedLocally("Aardvark husbandry", 1536),
      textConfig: "simple",
    });
    const vector = await answer({ query: "aardvark", mode: "vector", types: ["post"] });
    expect(vector.results.map((hit) => hit.contentId)).not.toContain("switched-1");
    expect(vector.reembedding?.models).toEqual(["text-embedding-ada-002"]);
    expect(await ids({ query: "aardvark", mode: "keyword" })).toEqual(["switched-1"]);
    // Ranked first by the keyword half alone: it ties with the vector half's first (1 / (k + 1) each).
    expect((await ids({ query: "aardvark" })).slice(0, 2)).toContain("switched-1");
    await connection.db.delete(embeddings).where(eq(embeddings.contentId, "switched-1"));
  });
});

describe("every scope rule applies to both halves", () => {
  const modes = ["hybrid", "vector", "keyword"] as const;

  it.each(modes)("%s: users only for the admin, a profile's snippet without its bio, drafts and their lessons nowhere", async (mode) => {
    const [user] = await connection.db
      .insert(users)
      .values({ email: `z-${mode}@example.com`, fullName: `Zebediah ${mode}` })
      .returning();
    const [profile] = await connection.db
      .insert(profiles)
      .values({
        username: `grace-${mode}`,
        fullName: "Grace Hopper",
        headline: `Compiler moth relay ${mode}`,
        bio: `Private lighthouse ${mode}`,
      })
      .returning();
    const [draft] = await connection.db
      .insert(course)
      .values({ title: `Quokka anatomy ${mode}`, published: false })
      .returning();
    const [lesson] = await connection.db
      .insert(courseLesson)
      .values({ courseId: draft!.id, title: `Quokka teeth ${mode}` })
      .returning();
    await processItems(deps, [
      { contentType: "auth_user", contentId: user!.id },
      { contentType: "profile", contentId: profile!.id },
      { contentType: "course", contentId: draft!.id },
      { contentType: "lesson", contentId: lesson!.id },
    ]);

    const everyone = await answer({ query: `Zebediah ${mode}`, mode });
    expect(everyone.results.map((hit) => hit.contentType)).not.toContain("auth_user");
    expect((await searchAs({ query: "Zebediah", mode, types: ["auth_user"] })).status).toBe(400);
    expect((await ids({ query: `Zebediah ${mode}`, mode, types: ["auth_user"] }, adminSearch))[0]).toBe(user!.id);

    const [found] = (await answer({ query: `compiler moth relay ${mode}`, mode, types: ["profile"] })).results;
    expect(found).toMatchObject({ contentType: "profile", contentId: profile!.id });
    expect(found!.snippet).toContain("Grace Hopper");
    expect(found!.snippet).not.toMatch(/lighthouse/i);
    const quokka = await answer({ query: `quokka anatomy teeth ${mode}`, mode, minScore: -1 }, adminSearch);
    expect(quokka.results.map((hit) => hit.contentId)).not.toContain(draft!.id);
    expect(quokka.results.map((hit) => hit.contentId)).not.toContain(lesson!.id);
  });
});

describe("bad requests", () => {
  it.each([
    [{ query: "x", mode: "fuzzy" }, /mode: must be one of "hybrid", "vector", "keyword"/],
    [{ query: "x", fusion: { k: 0 } }, /fusion\.k/],
    [{ query: "x", fusion: { k: 1001 } }, /fusion\.k/],
    [{ query: "x", fusion: { vector: 11 } }, /fusion\.vector/],
    [{ query: "x", fusion: { vector: 0, keyword: 0 } }, /fusion: one weight at least must be above 0/],
    [{ query: "x", fusion: { rrf: 60 } }, /fusion/],
  ])("%j answers 400 saying what was wrong", async (body, message) => {
    const response = await searchAs(body);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(message);
  });
});
