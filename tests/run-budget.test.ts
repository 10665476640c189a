// A run never outlives its budget: batch sizes, request timeouts, retries and retry-after waits are cut
// to the time left. Timing is on a fake clock, or against a server far slower (30 s) than the budget
// (1.5 s) with a generous bound (15 s), so that nothing here depends on the machine's speed.
import { eq, inArray, sql } from "drizzle-orm";
import { beforeEach, describe, expect, it } from "vitest";
import { createFunctionApp } from "../functions/app";
import { loadConfig } from "../functions/config";
import { STORE_GROUP } from "../functions/core/process";
import type { Deps } from "../functions/deps";
import { drain } from "../functions/drain";
import { nextBatchSize } from "../functions/drain/batch-size";
import { openaiEmbedder } from "../functions/embedders/openai";
import { Budget } from "../functions/lib/budget";
import { OutOfTimeError, TransientError } from "../functions/lib/errors";
import { holdLanes, queueItems } from "../functions/queue";
import { MAX_YIELD_MS, YIELD_STEP_MS } from "../functions/queue/live-first";
import { communityComment, communityPost, embeddingQueue, embeddings, jobRuns, laneStates } from "../schema";
import { BACKGROUND_PRIORITY } from "../schema/registry";
import { FakeClock } from "../testing/fake-clock";
import { signedRequest } from "../testing/qstash-token";
import { testDeps } from "./support/deps";
import { useDatabaseAndApi } from "./support/fixtures";

const SITE = "https://embeddings.example.com";
const KEY = "sig_budget_key";
/** Past vitest's 120 s test timeout: a run that waited for such an API would fail its test. */
const NEVER_MS = 600_000;
const t = useDatabaseAndApi();

beforeEach(async () => {
  Object.assign(t.api, { latencyMs: 0, onAnswer: undefined, faults: [] });
  t.api.requests.length = 0;
  await t.connection.db.delete(embeddingQueue);
  await t.connection.db.delete(jobRuns);
  await t.connection.db.delete(laneStates);
});

const embedderOn = (clock?: FakeClock) =>
  openaiEmbedder({
    apiKey: "test-openai-key",
    baseURL: t.api.url,
    model: "text-embedding-3-small",
    dimensions: 1536,
    maxRetries: 3,
    clock,
  });

function depsWith(env: Record<string, string>, clock?: FakeClock): Deps {
  const config = loadConfig({ SITE_URL: SITE, QSTASH_CURRENT_SIGNING_KEY: KEY, QSTASH_NEXT_SIGNING_KEY: "sig_other", ...env });
  return testDeps(t.connection.db, { config, embedder: embedderOn(clock), clock });
}

async function signedPost(app: { request: (request: Request) => Response | Promise<Response> }, path: string, body: unknown) {
  return app.request(await signedRequest(`${SITE}/api/embeddings/${path}`, body, KEY));
}

const comments = (n: number) =>
  t.connection.db.insert(communityComment).values(Array.from({ length: n }, (_, i) => ({ body: `Budgeted comment ${i}` })));

describe("retries within the budget", () => {
  it("honours a retry-after up to the cap, waiting on the run's clock", async () => {
    const clock = new FakeClock();
    t.api.faults = [{ status: 429, headers: { "retry-after": "5" } }];
    const vectors = await embedderOn(clock).embed(["a"], Budget.start(60_000, clock));
    expect(vectors).toHaveLength(1);
    expect(clock.time - 1_000_000).toBe(5000);
    expect(t.api.requests).toHaveLength(1);
  });

  it("does not wait out a retry-after past the cap: the work goes back with the server's wait", async () => {
    const clock = new FakeClock();
    t.api.faults = [{ status: 429, headers: { "retry-after": "3600" } }];
    const error = await embedderOn(clock)
      .embed(["a"])
      .catch((e) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect(error).not.toBeInstanceOf(OutOfTimeError);
    expect(error.message).toMatch(/asked to wait 3600 s/);
    expect(error.retryAfterMs).toBe(3_600_000);
    expect(clock.time).toBe(1_000_000);
  });

  it("stops with OutOfTimeError rather than wait past the budget", async () => {
    const clock = new FakeClock();
    t.api.faults = [{ status: 503, headers: { "retry-after-ms": "5000" } }];
    const error = await embedderOn(clock)
      .embed(["a"], Budget.start(3000, clock))
      .catch((e) => e);
    expect(error).toBeInstanceOf(OutOfTimeError);
    expect(error.retryAfterMs).toBe(5000);
    expect(clock.time).toBe(1_000_000);
  });

  it("cuts a request's timeout to the time left (a server 20x slower than the budget)", async () => {
    // An API that would answer long after the test's own timeout: an answer at all proves the cut.
    t.api.latencyMs = NEVER_MS;
    const error = await embedderOn()
      .embed(["a"], Budget.start(1500))
      .catch((e) => e);
    expect(error).toBeInstanceOf(OutOfTimeError);
  });
});

describe("the drain's batches", () => {
  it("sizes each batch to the time left at the slowest pace measured, and skips batches too small to pay", () => {
    expect(nextBatchSize(8000, undefined, 1000)).toBe(1000);
    expect(nextBatchSize(8000, undefined, 1000, 100)).toBe(100);
    expect(nextBatchSize(6000, { slowestMsPerItem: 20, largestBatch: 100 }, 1000)).toBe(300);
    expect(nextBatchSize(6000, { slowestMsPerItem: 2, largestBatch: 100 }, 1000)).toBe(1000);
    expect(nextBatchSize(400, { slowestMsPerItem: 20, largestBatch: 100 }, 1000)).toBe(0);
    expect(nextBatchSize(500, { slowestMsPerItem: 20, largestBatch: 100 }, 1000)).toBe(25);
    expect(nextBatchSize(0, undefined, 1000)).toBe(0);
  });

  it("claims what the time left holds, stops at the budget, and tells the chain what fits", async () => {
    await comments(50);
    const clock = new FakeClock();
    // Each answered request "takes" 200 ms per input on the run's clock.
    t.api.onAnswer = (inputs) => (clock.time += 200 * inputs);
    const summary = await drain(depsWith({ DRAIN_BATCH_SIZE: "1000" }, clock), { budgetMs: 10_000, batchSize: 10 });
    // 10 s less 2 s kept back: 10 items (2 s), then the 6 s left hold 30 more.
    expect(t.api.requests.map((r) => r.inputs)).toEqual([10, 30]);
    expect(summary).toMatchObject({ batches: 2, done: 40, stoppedBy: "budget", remaining: 10, nextBatchSize: 40 });
    expect(clock.time - 1_000_000).toBeLessThanOrEqual(10_000);
  });
});

describe("the drain's backfill and the live lanes", () => {
  /** `n` comments queued as a backfill queues them; a live change (a post: the queued lane) pending beside them. */
  async function backfillBesideLive(n: number) {
    const { db } = t.connection;
    const comments = await db
      .insert(communityComment)
      .values(Array.from({ length: n }, (_, i) => ({ body: `Backfilled comment ${i}` })))
      .returning({ id: communityComment.id });
    await db.delete(embeddingQueue);
    await queueItems(
      db,
      comments.map((c) => ({ contentType: "comment", contentId: c.id, priority: BACKGROUND_PRIORITY, op: "upsert" as const })),
      "backfill",
    );
    const [post] = await db.insert(communityPost).values({ title: "Live", body: "Written while the backfill drains." }).returning();
    const [live] = await db.select().from(embeddingQueue).where(eq(embeddingQueue.contentId, post!.id));
    expect(live).toMatchObject({ status: "pending", priority: 4 });
    return { ids: comments.map((c) => c.id), live: live! };
  }
  /** A clock the test holds: time passes only while the run waits; at `liveUntil`, the live change is done. */
  function clockEndingLive(liveId: number) {
    const clock = {
      time: 1_000_000,
      liveUntil: Number.POSITIVE_INFINITY,
      slept: [] as number[],
      now: () => clock.time,
      async sleep(ms: number) {
        clock.slept.push(ms);
        clock.time += ms;
        if (clock.time >= clock.liveUntil)
          await t.connection.db.update(embeddingQueue).set({ status: "done" }).where(eq(embeddingQueue.id, liveId));
      },
    };
    return clock;
  }

  it("the batched lane's run waits for live-lane work before each write group, at most MAX_YIELD_MS, and stores everything", async () => {
    const { ids, live } = await backfillBesideLive(3 * STORE_GROUP);
    // Its doorbell rung: the queued lane's run is on its way to take it.
    await holdLanes(t.connection.db, [{ lane: "queued", leaseMs: 60_000 }], "ringing");
    const clock = clockEndingLive(live.id);
    // Live work for 2.5 s: the first two groups wait MAX_YIELD_MS each, the third until it is done.
    clock.liveUntil = clock.time + 2 * MAX_YIELD_MS + 500;
    const deps = { ...depsWith({}), clock };
    const summary = await drain(deps, { lane: "database", budgetMs: 60_000 });
    expect(summary).toMatchObject({ claimed: 3 * STORE_GROUP, done: 3 * STORE_GROUP, yieldedMs: 2 * MAX_YIELD_MS + 500 });
    expect(Math.max(...clock.slept)).toBeLessThanOrEqual(YIELD_STEP_MS * 2);
    expect(
      new Set((await t.connection.db.select().from(embeddings).where(inArray(embeddings.contentId, ids))).map((r) => r.contentId)).size,
    ).toBe(3 * STORE_GROUP);
  });

  it("waits for no live row that nothing is on its way to take: its lane idle (the doorbell failed), or its run's lease run out", async () => {
    const { ids, live } = await backfillBesideLive(2 * STORE_GROUP);
    const clock = clockEndingLive(live.id);
    const deps = { ...depsWith({}), clock };
    expect(await drain(deps, { lane: "database", budgetMs: 60_000 })).toMatchObject({ done: 2 * STORE_GROUP, yieldedMs: 0 });
    // Claimed by a live run that stopped: nothing takes it until its lease runs out and a run claims it again.
    await t.connection.db
      .update(embeddingQueue)
      .set({ status: "processing", lockedUntil: sql`now() - interval '1 second'` })
      .where(eq(embeddingQueue.id, live.id));
    await t.connection.db.update(embeddingQueue).set({ status: "pending" }).where(inArray(embeddingQueue.contentId, ids));
    expect(await drain(deps, { lane: "database", budgetMs: 60_000 })).toMatchObject({ done: 2 * STORE_GROUP, yieldedMs: 0 });
    // Held by a live run (its lease running): waited for.
    await t.connection.db
      .update(embeddingQueue)
      .set({ lockedUntil: sql`now() + interval '1 minute'` })
      .where(eq(embeddingQueue.id, live.id));
    await t.connection.db.update(embeddingQueue).set({ status: "pending" }).where(inArray(embeddingQueue.contentId, ids));
    clock.liveUntil = clock.time + 300;
    expect(await drain(deps, { lane: "database", budgetMs: 60_000 })).toMatchObject({ done: 2 * STORE_GROUP, yieldedMs: 300 });
  });

  it("the drain takes the live rows first, in a batch of their own, then the backfill's, which has nothing left to wait for", async () => {
    const { ids, live } = await backfillBesideLive(2 * STORE_GROUP);
    // Its doorbell rung: were it still waiting when the backfill writes, the backfill would wait for it.
    await holdLanes(t.connection.db, [{ lane: "queued", leaseMs: 60_000 }], "ringing");
    const clock = clockEndingLive(live.id);
    const summary = await drain({ ...depsWith({}), clock }, { budgetMs: 60_000 });
    expect(summary).toMatchObject({ batches: 2, done: 2 * STORE_GROUP + 1, yieldedMs: 0 });
    expect(await t.connection.db.$count(embeddings, inArray(embeddings.contentId, [...ids, live.contentId]))).toBe(2 * STORE_GROUP + 1);
  });
});

describe("a run that runs out of time", () => {
  it("drain: answers in time, leaves the rest claimable at once, and records its job run", async () => {
    await comments(3);
    t.api.latencyMs = NEVER_MS;
    const app = createFunctionApp("drain", depsWith({ DRAIN_BUDGET_MS: "1500" }));
    const response = await signedPost(app, "drain", {});
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ claimed: 3, retried: 3, stoppedBy: "budget", nextBatchSize: 1 });
    const rows = await t.connection.db.select().from(embeddingQueue);
    expect(rows.map((r) => r.status)).toEqual(["pending", "pending", "pending"]);
    expect(await t.connection.db.$count(embeddingQueue, sql`run_after <= now()`)).toBe(3);
    const [run] = await t.connection.db.select().from(jobRuns).where(eq(jobRuns.job, "drain"));
    expect(run).toMatchObject({ ok: true, summary: { stoppedBy: "budget", retried: 3 } });
    // Not waiting out the lease: the next run takes them at once.
    t.api.latencyMs = 0;
    expect(await drain(depsWith({ DRAIN_BUDGET_MS: "1500" }))).toMatchObject({ claimed: 3, done: 3 });
  });

  it("process-webhook: a doorbell's run answers in time and puts its rows back at once", async () => {
    const [comment] = await t.connection.db.insert(communityComment).values({ body: "Slow delivery" }).returning();
    t.api.latencyMs = NEVER_MS;
    const app = createFunctionApp("process-webhook", depsWith({ PROCESS_BUDGET_MS: "1500" }));
    const response = await signedPost(app, "process-webhook", { doorbell: "database" });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ claimed: 1, retried: 1, stoppedBy: "budget" });
    expect(await t.connection.db.$count(embeddings, eq(embeddings.contentId, comment!.id))).toBe(0);
    expect(await t.connection.db.$count(embeddingQueue, sql`status = 'pending' AND run_after <= now()`)).toBe(1);
  });
});
