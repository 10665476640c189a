import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFunctionApp } from "../functions/app";
import { loadConfig } from "../functions/config";
import { processItems } from "../functions/core/process";
import { rowsOf } from "../functions/db/database";
import type { Deps } from "../functions/deps";
import { embedLocally } from "../functions/embedders/local";
import { applySearchSettings, nearestChunks } from "../functions/search";
import { loggedStatement } from "../functions/search/log";
import { communityPost, course, courseLesson, embeddingQueue, HNSW_INDEX, jobRuns, searchLog } from "../schema";
import type { Connection } from "../scripts/lib/database";
import { freshDatabase } from "./support/database";
import { testDeps } from "./support/deps";

const SECRETS = {
  ADMIN_TOKEN: "admin-secret-value-1",
  SEARCH_TOKEN: "search-secret-value-2",
  WEBHOOK_SECRET: "webhook-secret-value-3",
  OPENAI_API_KEY: "sk-openai-secret-value-4",
  QSTASH_TOKEN: "qstash-secret-value-5",
  QSTASH_CURRENT_SIGNING_KEY: "sig-secret-value-6",
  QSTASH_NEXT_SIGNING_KEY: "sig-secret-value-7",
  DATABASE_URL: "postgres://user:db-password-8@db.example.com/app",
};
let connection: Connection;
let deps: Deps;
const admin = { authorization: `Bearer ${SECRETS.ADMIN_TOKEN}` };

beforeAll(async () => {
  connection = await freshDatabase();
  // Known secret values in the configuration; the functions run on the local embedder and PGlite.
  const config = loadConfig({ ...SECRETS, QSTASH_URL: "http://127.0.0.1:9", SITE_URL: "http://127.0.0.1:3000" });
  deps = testDeps(connection.db, { config });
});
afterAll(() => connection.close());

describe("status", () => {
  it("reports queue depth, oldest pending age, last-hour numbers and recent errors that match the table", async () => {
    const db = connection.db;
    await db.delete(embeddingQueue);
    await db.insert(embeddingQueue).values([
      { contentType: "course", contentId: "c1", priority: 2, status: "pending", createdAt: new Date(Date.now() - 120_000) },
      { contentType: "comment", contentId: "k1", priority: 5, status: "pending" },
      { contentType: "comment", contentId: "k2", priority: 5, status: "pending" },
      { contentType: "post", contentId: "p1", priority: 4, status: "processing" },
      { contentType: "post", contentId: "p2", priority: 4, status: "done" },
      { contentType: "post", contentId: "p3", priority: 4, status: "failed", lastError: "embedding API answered 400: bad input" },
    ]);
    const app = createFunctionApp("status", deps);
    const response = await app.request("/api/embeddings/queue", { headers: admin });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, any>;
    expect(body.totals).toEqual({ pending: 3, processing: 1, done: 1, failed: 1 });
    expect(body.byStatusAndPriority).toContainEqual({ status: "pending", priority: 5, count: 2 });
    expect(body.oldestPendingSeconds).toBeGreaterThanOrEqual(119);
    expect(body.lastHour).toMatchObject({ itemsDone: 1, itemsFailed: 1 });
    expect(body.recentErrors).toEqual([
      expect.objectContaining({ contentType: "post", contentId: "p3", error: "embedding API answered 400: bad input" }),
    ]);
  });

  it("reports configuration, reachability and last runs, and never a secret", async () => {
    await connection.db.insert(jobRuns).values({ job: "drain", ok: true, summary: { done: 3 }, startedAt: new Date() });
    const app = createFunctionApp("status", deps);
    const processor = await app.request("/api/embeddings/processor", { headers: admin });
    const body = (await processor.json()) as Record<string, any>;
    expect(body.config).toMatchObject({ strategy: "qstash", model: "local-lexical-v1", dimensions: 1536, database: "postgres" });
    expect(body.database.reachable).toBe(true);
    expect(body.qstash).toEqual({ configured: false, reachable: false });
    expect(body.lastRuns.drain).toMatchObject({ ok: true, summary: { done: 3 } });
    const page = await app.request("/api/embeddings/status", { headers: admin });
    const html = await page.text();
    expect(html).toContain("Queue by lane");
    const queue = await (await app.request("/api/embeddings/queue", { headers: admin })).text();
    for (const value of Object.values(SECRETS)) {
      for (const text of [JSON.stringify(body), html, queue]) expect(text).not.toContain(value.includes("@") ? "db-password-8" : value);
    }
  });

  it("shows on the page what the queue holds: each lane's counts, the last hour and the failures", async () => {
    const db = connection.db;
    await db.delete(embeddingQueue);
    const page = async () => (await createFunctionApp("status", deps).request("/api/embeddings/status", { headers: admin })).text();
    /** A lane's row of the page: pending, processing, done, failed. */
    const lane = (html: string, name: string) =>
      html
        .match(new RegExp(`<tr><td>${name.replace(/[()+]/g, "\\$&")}</td>((?:<td>\\d+</td>){4})</tr>`))?.[1]
        ?.match(/\d+/g)
        ?.map(Number);
    const comment = (id: string) => ({ contentType: "comment", contentId: id, priority: 5, status: "pending" as const });
    await db
      .insert(embeddingQueue)
      .values([
        comment("k1"),
        comment("k2"),
        comment("k3"),
        { contentType: "post", contentId: "p1", priority: 4, status: "processing" },
        { contentType: "post", contentId: "p9", priority: 4, status: "failed", lastError: "embedding API answered 400: page test" },
      ]);
    let html = await page();
    expect(lane(html, "batched (5+)")).toEqual([3, 0, 0, 0]);
    expect(lane(html, "queued (3–4)")).toEqual([0, 1, 0, 1]);
    expect(html).toMatch(/id="throughput">0 items done · \d+ chunks embedded · 1 failed</);
    expect(html).toContain('<tr><td>post p9</td><td class="bad">embedding API answered 400: page test</td>');
    // More rows, other numbers: the page reads the table, nothing on it is fixed.
    await db.insert(embeddingQueue).values([comment("k4"), comment("k5"), { ...comment("k6"), status: "done" }]);
    html = await page();
    expect(lane(html, "batched (5+)")).toEqual([5, 0, 1, 0]);
    expect(html).toMatch(/id="throughput">1 items done · /);
  });

  it("shows a failing embedding API at once with its cause, a drain whose every item failed as failed, and the re-embedding notice as text", async () => {
    const db = connection.db;
    await db.delete(embeddingQueue);
    await db.delete(jobRuns);
    const page = async () => (await createFunctionApp("status", deps).request("/api/embeddings/status", { headers: admin })).text();
    // A drain that ran without throwing, but failed every item it took; items waiting on a dead API.
    await db
      .insert(jobRuns)
      .values({ job: "drain", ok: true, summary: { claimed: 12, done: 0, failed: 12, retried: 0 }, startedAt: new Date() });
    await db.insert(embeddingQueue).values([
      {
        contentType: "post",
        contentId: "w1",
        priority: 4,
        status: "pending",
        attempts: 1,
        lastError: "embedding API unreachable: Connection error.",
      },
      { contentType: "post", contentId: "w2", priority: 4, status: "pending" },
    ]);
    await db.execute(sql`INSERT INTO embeddings (content_type, content_id, chunk_index, chunk_text, content_hash, model, dimensions, embedding)
      VALUES ('post', 'old-model', 0, 'x', 'h', 'another-model', 1536, ${JSON.stringify(Array(1536).fill(0.01))}::vector)`);
    try {
      const html = await page();
      expect(html).toContain('<p id="api" class="bad">Embedding API failing: embedding API unreachable: Connection error.');
      expect(html).toContain("<tr><td>drain</td>");
      expect(html).toMatch(/<td class="bad">all 12 items failed<\/td>/);
      expect(html).toContain('<p id="reembedding">Re-embedding: 1 chunks are of another model</p>');
      expect(html).not.toContain("&lt;p");
    } finally {
      await db.execute(sql`DELETE FROM embeddings WHERE content_id = 'old-model'`);
      await db.delete(embeddingQueue);
      await db.delete(jobRuns);
    }
  });

  it("sends security headers with the page, the admin JSON and their refusals", async () => {
    const app = createFunctionApp("status", deps);
    const answers = [
      await app.request("/api/embeddings/status", { headers: admin }),
      await app.request("/api/embeddings/queue", { headers: admin }),
      await app.request("/api/embeddings/processor", { headers: admin }),
      await app.request("/api/embeddings/status"),
    ];
    for (const response of answers) {
      expect(response.headers.get("content-security-policy"), response.url).toMatch(/default-src 'none'.*frame-ancestors 'none'/);
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(response.headers.get("referrer-policy")).toBe("no-referrer");
      expect(response.headers.get("x-frame-options")).toBe("DENY");
    }
  });

  it("shows no credential embedded in a configured URL", async () => {
    const config = loadConfig({
      ...SECRETS,
      OPENAI_BASE_URL: "https://proxy-user:proxy-pass@llm.example.com/v1?api-key=query-key",
      QSTASH_URL: "https://qstash-user:qstash-pass@qstash.example.com",
      SITE_URL: "https://site-user:site-pass@site.example.com/?token=site-token",
    });
    const app = createFunctionApp("status", { ...deps, config });
    const shown = await (await app.request("/api/embeddings/processor", { headers: admin })).text();
    for (const secret of ["proxy-user", "proxy-pass", "query-key", "qstash-user", "qstash-pass", "site-user", "site-pass", "site-token"])
      expect(shown).not.toContain(secret);
    const body = JSON.parse(shown) as { config: Record<string, string> };
    expect(body.config).toMatchObject({
      openaiBaseUrl: "https://redacted:redacted@llm.example.com/v1?api-key=redacted",
      qstashUrl: "https://redacted:redacted@qstash.example.com/",
    });
  });

  it("refuses a missing or wrong ADMIN_TOKEN, and asks a browser for it on the page", async () => {
    const app = createFunctionApp("status", deps);
    expect((await app.request("/api/embeddings/queue")).status).toBe(401);
    expect((await app.request("/api/embeddings/processor", { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    const page = await app.request("/api/embeddings/status");
    expect(page.status).toBe(401);
    expect(page.headers.get("www-authenticate")).toMatch(/^Basic/);
    const basic = `Basic ${btoa(`admin:${SECRETS.ADMIN_TOKEN}`)}`;
    expect((await app.request("/api/embeddings/status", { headers: { authorization: basic } })).status).toBe(200);
  });
});

describe("search", () => {
  const search = (body: unknown, token = SECRETS.SEARCH_TOKEN) =>
    createFunctionApp("search", deps).request("/api/embeddings/search", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("returns the expected rows in order, one per row, filters by type, and logs", async () => {
    const db = connection.db;
    const [guitar] = await db
      .insert(course)
      .values({ title: "Guitar for beginners", description: "Chords, strumming and your first songs on guitar." })
      .returning();
    const [piano] = await db.insert(course).values({ title: "Piano basics", description: "Scales and chords on the piano." }).returning();
    const [baking] = await db
      .insert(communityPost)
      .values({ title: "Sourdough baking", body: "Flour, water, salt and a starter." })
      .returning();
    const [lesson] = await db
      .insert(courseLesson)
      .values({
        courseId: guitar!.id,
        title: "Guitar chords",
        content: Array(80).fill("Guitar chords: open chords, barre chords and power chords on the guitar.").join(" "),
      })
      .returning();
    await processItems(deps, [
      { contentType: "course", contentId: guitar!.id },
      { contentType: "course", contentId: piano!.id },
      { contentType: "post", contentId: baking!.id },
      { contentType: "lesson", contentId: lesson!.id },
    ]);
    await db.delete(searchLog);

    const response = await search({ query: "guitar chords", limit: 3 });
    expect(response.status).toBe(200);
    const { results } = (await response.json()) as {
      results: { contentType: string; contentId: string; score: number; snippet: string }[];
    };
    expect(results.map((r) => r.contentId)).toEqual([lesson!.id, guitar!.id, piano!.id]);
    expect(new Set(results.map((r) => r.contentId)).size).toBe(results.length);
    expect(results[0]!.score).toBeGreaterThan(results[2]!.score);
    expect(results[1]!.snippet).toContain("Guitar for beginners");

    const onlyPosts = (await (await search({ query: "guitar chords sourdough", types: ["post"] })).json()) as {
      results: { contentType: string }[];
    };
    expect(onlyPosts.results.map((r) => r.contentType)).toEqual(["post"]);
    // minScore is the vector half's floor: a hybrid search keeps keyword matches below it.
    const strict = (await (await search({ query: "guitar chords", minScore: 0.99, mode: "vector" })).json()) as { results: unknown[] };
    expect(strict.results).toEqual([]);

    const logged = await db.select().from(searchLog).orderBy(searchLog.id);
    expect(logged.map((l) => [l.query, l.resultCount, l.contentTypes])).toEqual([
      ["guitar chords", 3, null],
      ["guitar chords sourdough", 1, ["post"]],
      ["guitar chords", 0, null],
    ]);
  });

  it("serves unfiltered and broad filters through the HNSW index, and a filter matching few chunks exactly", async () => {
    const db = connection.db;
    const values = Array.from({ length: 600 }, (_, i) => {
      const text = `Item ${i} about ${i % 2 ? "music" : "baking"} and practice ${i % 7}`;
      return sql`(${i % 3 ? "post" : "course"}, ${`plan-${i}`}, 0, ${text}, 'h', ${deps.embedder.model}, 1536, ${JSON.stringify(embedLocally(text, 1536))}::vector)`;
    });
    await db.execute(
      sql`INSERT INTO embeddings (content_type, content_id, chunk_index, chunk_text, content_hash, model, dimensions, embedding) VALUES ${sql.join(values, sql`, `)}`,
    );
    await db.execute(sql`ANALYZE embeddings`);
    const plan = async (types: string[] | undefined, exactLimit: number) => {
      const rows = await db.transaction(async (tx) => {
        await applySearchSettings(tx, types, 40, exactLimit);
        return rowsOf<{ "QUERY PLAN": string }>(tx.execute(sql`EXPLAIN ${nearestChunks(embedLocally("music practice", 1536), types, 40)}`));
      });
      const text = rows.map((row) => row["QUERY PLAN"]).join("\n");
      return text.includes(`Index Scan using ${HNSW_INDEX}`) && !/\bSort\b/.test(text)
        ? "hnsw"
        : /\bSort\b/.test(text) && !text.includes(HNSW_INDEX)
          ? "exact"
          : text;
    };
    // About 200 courses and 400 posts.
    expect(await plan(undefined, 100)).toBe("hnsw");
    expect(await plan(["course"], 100)).toBe("hnsw");
    expect(await plan(["post", "lesson"], 100)).toBe("hnsw");
    expect(await plan(["course"], 1000)).toBe("exact");
    expect(await plan(["lesson"], 100)).toBe("exact");
    // The scan as a search sends it, writing its log row (functions/search/log.ts): the same HNSW scan
    // inside, its 40 rows put in order above it.
    const logged = await db.transaction(async (tx) => {
      await applySearchSettings(tx, undefined, 40, 100);
      const scan = nearestChunks(embedLocally("music practice", 1536), undefined, 40);
      const entry = { query: "music practice", limit: 10, started: Date.now() };
      return rowsOf<{ "QUERY PLAN": string }>(tx.execute(sql`EXPLAIN ${loggedStatement(scan, sql`distance`, entry)}`));
    });
    const text = logged.map((row) => row["QUERY PLAN"]).join("\n");
    expect(text).toContain(`Index Scan using ${HNSW_INDEX}`);
    expect(text).toMatch(/Insert on search_log/);
  });

  it("refuses a wrong SEARCH_TOKEN and bad requests, and logs nothing for them", async () => {
    await connection.db.delete(searchLog);
    expect((await search({ query: "x" }, "wrong")).status).toBe(401);
    const bad = await search({ query: "" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/query/);
    const unknown = await search({ query: "x", types: ["invoice"] });
    expect(unknown.status).toBe(400);
    expect(await connection.db.$count(searchLog)).toBe(0);
  });
});
