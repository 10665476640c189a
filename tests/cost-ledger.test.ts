// The cost ledger, the budget and pauses (functions/cost/, functions/queue/gate.ts): the ledger's tokens
// against what the fake OpenAI server served, the backfill estimate against the ledger, a cap that
// concurrent runs never pass by more than one request, and a paused type or lane left waiting, unclaimed.
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createFunctionApp } from "../functions/app";
import { loadConfig } from "../functions/config";
import { reserveBudget } from "../functions/cost/budget";
import { bookSpend, dailyCost, pruneSpend, spendByDay, totalOf } from "../functions/cost/ledger";
import type { Deps } from "../functions/deps";
import { drain } from "../functions/drain";
import { routeChanges } from "../functions/enqueue/route-changes";
import { utcDay } from "../functions/lib/utc-day";
import { qstashPublisher } from "../functions/qstash/publisher";
import { queueItems, readGate } from "../functions/queue";
import {
  communityPost,
  course,
  courseLesson,
  embeddingBudget,
  embeddingQueue,
  embeddingSpend,
  embeddings,
  laneStates,
  pipelinePauses,
} from "../schema";
import { BACKGROUND_PRIORITY, createRegistry } from "../schema/registry";
import type { Connection } from "../scripts/lib/database";
import { estimateBackfill } from "../scripts/lib/estimate";
import { sampleCourses, sampleLessons, samplePosts } from "../scripts/lib/sample-data";
import { type RunningEmulator, startEmulator } from "../scripts/qstash-emulator/http";
import { type FakeOpenAI, fakeServerEmbedder, startFakeOpenAI } from "../testing/fake-openai";
import { freshDatabase } from "./support/database";

let connection: Connection;
let api: FakeOpenAI;
const registry = createRegistry();
const ADMIN = { authorization: "Bearer cost-admin" };

const depsWith = (env: Record<string, string> = {}): Deps => ({
  db: connection.db,
  config: loadConfig({ ADMIN_TOKEN: "cost-admin", OPENAI_API_KEY: "test-openai-key", ...env }),
  registry,
  // Small requests: a budget test needs many of them.
  embedder: fakeServerEmbedder(api, { limits: { maxInputs: 8, maxTokens: 300_000 }, concurrency: 2 }),
});

/** The sample data of the demo, and 120 posts more, queued by the triggers. */
async function seed() {
  const courses = await connection.db.insert(course).values(sampleCourses).returning();
  await connection.db.insert(courseLesson).values(sampleLessons.map((l, i) => ({ ...l, courseId: courses[i]!.id })));
  await connection.db.insert(communityPost).values([
    ...samplePosts,
    ...Array.from({ length: 120 }, (_, n) => ({
      title: `Question ${n} about telescopes`,
      body: `Which eyepiece shows Jupiter's moons best at ${n * 10} times? ${"The sky was clear and dark. ".repeat(n % 7)}`,
    })),
  ]);
}

const drainAll = async (deps: Deps) => {
  for (let runs = 0; runs < 50; runs++) {
    const summary = await drain(deps, { budgetMs: 60_000 });
    if (summary.stoppedBy !== "budget") return summary;
  }
  throw new Error("the drain never emptied the queue");
};

beforeAll(async () => {
  [connection, api] = await Promise.all([freshDatabase(), startFakeOpenAI()]);
});
afterAll(async () => {
  await Promise.all([connection.close(), api.close()]);
});
beforeEach(async () => {
  for (const table of [embeddingQueue, embeddings, embeddingSpend, embeddingBudget, pipelinePauses, laneStates]) {
    await connection.db.delete(table);
  }
  await connection.db.delete(courseLesson);
  await connection.db.delete(course);
  await connection.db.delete(communityPost);
  api.requests.length = 0;
});

describe("cost ledger", () => {
  it("books the API's own token count by model, lane and path (within 1% of what the fake served), and the estimate is within 5%", async () => {
    const deps = depsWith();
    await seed();
    const estimate = await estimateBackfill(deps, registry.entries);
    expect(estimate.chunksToEmbed).toBeGreaterThan(100);
    expect(await connection.db.$count(embeddingSpend)).toBe(0); // the estimate spends nothing

    const summary = await drainAll(deps);
    expect(summary.failed).toBe(0);
    const rows = await spendByDay(connection.db, deps.config, utcDay(Date.now() - 86_400_000), utcDay(Date.now() + 86_400_000));
    const booked = totalOf(rows);
    const served = api.requests.reduce((sum, r) => ({ tokens: sum.tokens + r.tokens, inputs: sum.inputs + r.inputs }), {
      tokens: 0,
      inputs: 0,
    });
    expect(Math.abs(booked.tokens - served.tokens)).toBeLessThanOrEqual(served.tokens * 0.01);
    expect(booked.inputs).toBe(served.inputs);
    expect(booked.requests).toBe(api.requests.length);
    // Lessons and courses ride other lanes than posts: each lane has its own row, all on the live path.
    expect(new Set(rows.map((r) => r.lane)).size).toBeGreaterThan(1);
    expect(rows.every((r) => r.path === "live" && r.model === "text-embedding-3-small")).toBe(true);
    // Money at OpenAI's list price for text-embedding-3-small, $0.02 per 1M tokens.
    expect(booked.usd).toBeCloseTo((booked.tokens * 0.02) / 1e6, 10);

    expect(Math.abs(estimate.tokens - booked.tokens)).toBeLessThanOrEqual(booked.tokens * 0.05);
    expect(estimate.usd).toBeCloseTo(booked.usd, 6);
    const [day] = await dailyCost(connection.db, deps.config, utcDay(Date.now()), utcDay(Date.now()));
    expect(day).toMatchObject({ tokens: booked.tokens, requests: booked.requests, qstashMessages: 0 });
    // Everything is current now: a second backfill would send nothing.
    expect((await estimateBackfill(deps, registry.entries)).chunksToEmbed).toBe(0);
  });

  it("stays bounded: one row per day and combination, days past the retention pruned", async () => {
    const now = Date.now();
    const key = { model: "text-embedding-3-small", lane: "queued", path: "live" as const };
    for (let n = 0; n < 3; n++) await bookSpend(connection.db, key, { tokens: 10, requests: 1, inputs: 2 }, now);
    await bookSpend(connection.db, key, { tokens: 5, requests: 1, inputs: 1 }, now - 40 * 86_400_000);
    expect(await connection.db.$count(embeddingSpend)).toBe(2);
    const [today] = await spendByDay(connection.db, depsWith().config, utcDay(now), utcDay(now));
    expect(today).toMatchObject({ tokens: 30, requests: 3, inputs: 6 });
    expect(await pruneSpend(connection.db, 30, now)).toBe(1);
    expect(await connection.db.$count(embeddingSpend)).toBe(1);
  });

  it("takes prices from EMBEDDING_PRICES and refuses a malformed one", () => {
    expect(depsWith({ EMBEDDING_PRICES: "text-embedding-3-small=0.01, my-model=1.5" }).config.cost.prices).toMatchObject({
      "text-embedding-3-small": 0.01,
      "my-model": 1.5,
      "text-embedding-3-large": 0.13,
    });
    expect(() => depsWith({ EMBEDDING_PRICES: "text-embedding-3-small" })).toThrow(
      /EMBEDDING_PRICES "text-embedding-3-small" is not model=USD/,
    );
  });
});

describe("budget", () => {
  it("lets concurrent reservations together reach the cap and no further", async () => {
    const deps = depsWith({ EMBEDDING_BUDGET_TOKENS: "1000" });
    const now = Date.now();
    const answers = await Promise.allSettled(
      Array.from({ length: 30 }, () => reserveBudget(connection.db, deps.config, "immediate", { tokens: 100, usd: 0 }, now)),
    );
    expect(answers.filter((a) => a.status === "fulfilled")).toHaveLength(10);
    // The batched lane's share (80%) is spent already: it is refused.
    await expect(reserveBudget(connection.db, deps.config, "database", { tokens: 1, usd: 0 }, now)).rejects.toThrow(
      /database lane's share/,
    );
  });

  it("stops concurrent runs at the cap (spend passes it by at most one request), the rows wait unfailed, and the status page says so", async () => {
    await seed();
    const cap = 1500;
    const deps = depsWith({ EMBEDDING_BUDGET_TOKENS: String(cap) });
    const summaries = await Promise.all(Array.from({ length: 4 }, () => drain(deps, { budgetMs: 60_000 })));
    expect(summaries.some((s) => s.stoppedBy === "paused" || s.remaining === 0)).toBe(true);
    const served = api.requests.reduce((sum, r) => sum + r.tokens, 0);
    const largest = Math.max(...api.requests.map((r) => r.tokens));
    const [account] = await connection.db.select().from(embeddingBudget);
    expect(account!.tokens).toBe(served);
    expect(served).toBeLessThanOrEqual(cap + largest);
    expect(account!.reservedTokens).toBe(0);
    const byLane = await spendByDay(connection.db, deps.config, utcDay(Date.now() - 86_400_000), utcDay(Date.now() + 86_400_000));
    expect(totalOf(byLane).tokens).toBe(served);
    // Nothing failed for want of budget, and no attempt was counted against the rows left waiting.
    expect(await connection.db.$count(embeddingQueue, eq(embeddingQueue.status, "failed"))).toBe(0);
    const waiting = await connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.status, "pending"));
    expect(waiting.length).toBeGreaterThan(0);
    expect(Math.max(...waiting.map((r) => r.attempts))).toBe(0);
    // A further run claims nothing of a closed lane.
    const again = await drain(deps, { budgetMs: 60_000 });
    expect(again.claimed).toBe(0);

    const page = await createFunctionApp("status", deps).request("/api/embeddings/status", { headers: ADMIN });
    const text = await page.text();
    expect(text).toContain('id="budget-paused"');
    expect(text).toMatch(/budget reached: lanes [a-z, ]*database/);

    // Raised cap: the rows are taken.
    const raised = depsWith({ EMBEDDING_BUDGET_TOKENS: "100000000" });
    const done = await drainAll(raised);
    expect(done.remaining).toBe(0);
    expect(await connection.db.$count(embeddingQueue, eq(embeddingQueue.status, "pending"))).toBe(0);
  });

  it("closes the batched lane (backfills) first, the queued lane next, the immediate lane last", async () => {
    const deps = depsWith({ EMBEDDING_BUDGET_TOKENS: "1000" });
    const now = Date.now();
    const closedAt = async (tokens: number) => {
      await connection.db
        .insert(embeddingBudget)
        .values({ period: utcDay(now), tokens })
        .onConflictDoUpdate({ target: embeddingBudget.period, set: { tokens } });
      return (await readGate(connection.db, deps.config, now)).closedLanes;
    };
    expect(await closedAt(799)).toEqual([]);
    expect(await closedAt(800)).toEqual(["database"]);
    expect(await closedAt(900)).toEqual(["queued", "database"]);
    expect(await closedAt(1000)).toEqual(["immediate", "queued", "database"]);

    // At 85%: a backfill's rows wait while a course edit (the immediate lane) is still embedded.
    await closedAt(850);
    const [c1, c2] = await connection.db
      .insert(course)
      .values([{ title: "Backfilled course" }, { title: "Edited course" }])
      .returning();
    await connection.db.delete(embeddingQueue);
    await queueItems(
      connection.db,
      [{ contentType: "course", contentId: String(c1!.id), priority: BACKGROUND_PRIORITY, op: "upsert" }],
      "backfill",
    );
    await queueItems(connection.db, [{ contentType: "course", contentId: String(c2!.id), priority: 2, op: "upsert" }], "webhook");
    const summary = await drain(deps, { budgetMs: 60_000 });
    expect(summary.done).toBe(1);
    const [waiting] = await connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.status, "pending"));
    expect(waiting).toMatchObject({ contentId: String(c1!.id), priority: BACKGROUND_PRIORITY, attempts: 0 });
  });
});

describe("pauses", () => {
  it("a paused content type waits unclaimed, the status page shows it, and resume lets the drain take it", async () => {
    const deps = depsWith();
    const app = createFunctionApp("pauses", deps);
    const post = (path: string, body: unknown, headers: Record<string, string> = ADMIN) =>
      app.request(`/api/embeddings/${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    expect((await post("pause", { contentType: "post" }, {})).status).toBe(401);
    const unknown = await post("pause", { contentType: "nope" });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/unknown content type "nope"; known: /);
    expect((await post("pause", { lane: "immediate", contentType: "post" })).status).toBe(400);
    expect((await post("pause", { lane: "sideways" })).status).toBe(400);

    const paused = await post("pause", { contentType: "post", reason: "load at night" });
    expect(paused.status).toBe(200);
    expect(((await paused.json()) as { pauses: unknown[] }).pauses).toHaveLength(1);
    await seed();
    await drainAll(deps);
    const left = await connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.status, "pending"));
    expect(left.length).toBeGreaterThan(100);
    expect(left.every((r) => r.contentType === "post" && r.attempts === 0)).toBe(true);
    expect(await connection.db.$count(embeddings, eq(embeddings.contentType, "course"))).toBeGreaterThan(0);

    const page = await (await createFunctionApp("status", deps).request("/api/embeddings/status", { headers: ADMIN })).text();
    expect(page).toContain("paused: type post (load at night)");

    const resumed = await post("resume", { contentType: "post" });
    expect(((await resumed.json()) as { changed: boolean }).changed).toBe(true);
    await drainAll(deps);
    expect(await connection.db.$count(embeddingQueue, eq(embeddingQueue.status, "pending"))).toBe(0);
  });

  it("a paused lane rings no doorbell: its changes are queued and wait", async () => {
    let emulator: RunningEmulator | undefined;
    try {
      emulator = await startEmulator({ token: "pause-token", currentSigningKey: "sig_p", nextSigningKey: "sig_q", defaultRetries: 0 });
      emulator.emulator.faults = { failDelivery: () => true };
      const config = loadConfig({
        SITE_URL: "http://127.0.0.1:9",
        QSTASH_TOKEN: "pause-token",
        QSTASH_URL: emulator.url,
        QSTASH_CURRENT_SIGNING_KEY: "sig_p",
        QSTASH_NEXT_SIGNING_KEY: "sig_q",
        QSTASH_PLAN: "payg",
        CHANGES_VIA: "enqueue",
        ADMIN_TOKEN: "cost-admin",
      });
      const deps: Deps = { ...depsWith(), config, publisher: qstashPublisher(config) };
      const [c1] = await connection.db
        .insert(course)
        .values([{ title: "Paused lane" }])
        .returning();
      const lane =
        registry.byType("course")!.priority <= 2 ? "immediate" : registry.byType("course")!.priority <= 4 ? "queued" : "database";
      await createFunctionApp("pauses", deps).request("/api/embeddings/pause", {
        method: "POST",
        headers: { "content-type": "application/json", ...ADMIN },
        body: JSON.stringify({ lane }),
      });
      const routed = await routeChanges(deps, [
        { contentType: "course", contentId: String(c1!.id), priority: registry.byType("course")!.priority, op: "upsert" },
      ]);
      expect(routed[0]).toMatchObject({ lane, paused: true });
      const [state] = await connection.db.select().from(laneStates).where(eq(laneStates.lane, lane));
      expect(state).toBeUndefined();
      expect(await connection.db.$count(embeddingQueue, sql`content_id = ${String(c1!.id)} AND status = 'pending'`)).toBe(1);
    } finally {
      await emulator?.close();
    }
  });
});
