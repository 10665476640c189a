// The Batch API path (functions/batch/, functions/batches.ts; ARCHITECTURE.md §14 "Batch API"): the fake
// Batch API driven through the openai SDK's own calls (the contract), then the pipeline's round trip on
// PGlite or real PostgreSQL (TEST_DATABASE_URL): backfill rows → batch → poll → stored, on the ledger's
// batch path at half the live price; an edit during the batch (the new text wins); an expired, a failed
// and a partial batch falling back to the live lanes.

import { and, eq, inArray, sql } from "drizzle-orm";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createFunctionApp } from "../functions/app";
import { pollBatches, pruneBatches } from "../functions/batch/settle";
import { BATCH_LEASE_MS, submitBatch } from "../functions/batch/submit";
import { batchApiOf, runBatches } from "../functions/batches";
import { loadConfig } from "../functions/config";
import { contentHash } from "../functions/core/hash";
import { STORE_GROUP } from "../functions/core/process";
import { spendByDay, totalOf } from "../functions/cost/ledger";
import { lockBucket } from "../functions/db/conflicts";
import { rowsOf } from "../functions/db/database";
import type { Deps } from "../functions/deps";
import { drain } from "../functions/drain";
import { type BatchResults, readLine, requestLines } from "../functions/embedders/batch-api";
import { endpointUrl } from "../functions/endpoints";
import { Budget } from "../functions/lib/budget";
import { utcDay } from "../functions/lib/utc-day";
import { holdLanes, pause, queueItems, resume } from "../functions/queue";
import { MAX_YIELD_MS, YIELD_STEP_MS } from "../functions/queue/live-first";
import { createShadow, dropShadow, shadowCoverage } from "../functions/sets/shadow";
import {
  communityPost,
  embeddingBatches,
  embeddingBatchRows,
  embeddingBudget,
  embeddingQueue,
  embeddingSpend,
  embeddings,
  laneStates,
} from "../schema";
import { BACKGROUND_PRIORITY, createRegistry } from "../schema/registry";
import type { Connection } from "../scripts/lib/database";
import { type FakeOpenAI, fakeServerEmbedder, startFakeOpenAI } from "../testing/fake-openai";
import { qstashToken } from "../testing/qstash-token";
import { freshDatabase } from "./support/database";

let connection: Connection;
let api: FakeOpenAI;
const registry = createRegistry();
const SIGNING_KEY = "sig_batch_current";

const depsWith = (env: Record<string, string> = {}): Deps => ({
  db: connection.db,
  config: loadConfig({
    OPENAI_API_KEY: "test-openai-key",
    OPENAI_BASE_URL: api.url,
    EMBEDDING_BATCH_API: "true",
    EMBEDDING_BATCH_MIN_ITEMS: "10",
    QSTASH_CURRENT_SIGNING_KEY: SIGNING_KEY,
    SITE_URL: "https://batch.example",
    ...env,
  }),
  registry,
  embedder: fakeServerEmbedder(api),
});

/** `n` posts, their rows queued at backfill priority (a first load), none by their triggers. */
async function backfill(n: number) {
  const posts = await connection.db
    .insert(communityPost)
    .values(
      Array.from({ length: n }, (_, i) => ({
        title: `Telescope note ${i}`,
        body: `Saturn's rings at ${i * 7} times, seen from a dark site.`,
      })),
    )
    .returning({ id: communityPost.id });
  await connection.db.delete(embeddingQueue);
  await queueItems(
    connection.db,
    posts.map((p) => ({ contentType: "post", contentId: p.id, priority: BACKGROUND_PRIORITY, op: "upsert" as const })),
    "backfill",
  );
  return posts.map((p) => p.id);
}

/** One scheduled run, as QStash calls it: signed, over HTTP. */
async function scheduledRun(deps: Deps) {
  const app = createFunctionApp("batches", deps);
  const url = endpointUrl(deps.config.siteUrl!, "batches");
  const response = await app.request(url, {
    method: "POST",
    headers: { "content-type": "application/json", "upstash-signature": await qstashToken(SIGNING_KEY, url, "{}") },
    body: "{}",
  });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return JSON.parse(text) as Awaited<ReturnType<typeof runBatches>>;
}

const queueStatuses = async () =>
  Object.fromEntries(
    (
      await connection.db
        .select({ status: embeddingQueue.status, n: sql<number>`count(*)::int` })
        .from(embeddingQueue)
        .groupBy(embeddingQueue.status)
    ).map((r) => [r.status, r.n]),
  );

const ledger = async (deps: Deps) =>
  spendByDay(connection.db, deps.config, utcDay(Date.now() - 86_400_000), utcDay(Date.now() + 86_400_000));

beforeAll(async () => {
  [connection, api] = await Promise.all([freshDatabase(), startFakeOpenAI()]);
});
afterAll(async () => {
  await Promise.all([connection.close(), api.close()]);
});
beforeEach(async () => {
  for (const table of [
    embeddingBatchRows,
    embeddingBatches,
    embeddingQueue,
    embeddings,
    embeddingSpend,
    embeddingBudget,
    communityPost,
    laneStates,
  ]) {
    await connection.db.delete(table);
  }
  api.batch.batches.clear();
  api.batch.files.clear();
  Object.assign(api.batch, { outcome: "completed", failLine: undefined, autoFinish: false, tokens: 0, answered: 0 });
  api.requests.length = 0;
});

describe("fake Batch API, through the openai SDK's own calls", () => {
  const client = () => new OpenAI({ apiKey: "test-openai-key", baseURL: api.url, maxRetries: 0 });
  const line = (customId: string, input: string) =>
    JSON.stringify({
      custom_id: customId,
      method: "POST",
      url: "/v1/embeddings",
      body: { model: "text-embedding-3-small", input, dimensions: 8 },
    });

  it("uploads a JSONL file (multipart, purpose batch), creates a batch, reports it moving on, and serves the output file", async () => {
    const openai = client();
    const file = await openai.files.create({
      file: await toFile(Buffer.from(`${line("a", "first text")}\n${line("b", "second")}\n`), "in.jsonl"),
      purpose: "batch",
    });
    expect(file).toMatchObject({ object: "file", purpose: "batch", filename: "in.jsonl", status: "processed" });
    expect(file.id).toMatch(/^file-/);
    const created = await openai.batches.create({ input_file_id: file.id, endpoint: "/v1/embeddings", completion_window: "24h" });
    expect(created).toMatchObject({
      object: "batch",
      status: "validating",
      input_file_id: file.id,
      endpoint: "/v1/embeddings",
      output_file_id: null,
    });
    expect((await openai.batches.retrieve(created.id)).status).toBe("in_progress");
    api.batch.finish();
    const done = await openai.batches.retrieve(created.id);
    expect(done).toMatchObject({ status: "completed", request_counts: { total: 2, completed: 2, failed: 0 }, error_file_id: null });
    const output = await (await openai.files.content(done.output_file_id!)).text();
    const lines = output
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.custom_id).sort()).toEqual(["a", "b"]);
    expect(lines[0]).toMatchObject({
      error: null,
      response: { status_code: 200, body: { object: "list", model: "text-embedding-3-small" } },
    });
    expect(lines[0].response.body.data[0].embedding).toHaveLength(8);
    expect(lines[0].response.body.usage.prompt_tokens).toBeGreaterThan(0);
    expect(api.batch.answered).toBe(2);
  });

  it("writes failed lines to the error file (a partial output), and fails a batch whose custom_ids repeat", async () => {
    const openai = client();
    api.batch.failLine = (id) => id === "bad";
    const file = await openai.files.create({
      file: await toFile(Buffer.from(`${line("ok", "fine")}\n${line("bad", "refused")}\n`), "in.jsonl"),
      purpose: "batch",
    });
    const batch = await openai.batches.create({ input_file_id: file.id, endpoint: "/v1/embeddings", completion_window: "24h" });
    api.batch.finish();
    const done = await openai.batches.retrieve(batch.id);
    expect(done.request_counts).toEqual({ total: 2, completed: 1, failed: 1 });
    const errors = (await (await openai.files.content(done.error_file_id!)).text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(errors).toEqual([expect.objectContaining({ custom_id: "bad", response: expect.objectContaining({ status_code: 400 }) })]);

    const twice = await openai.files.create({
      file: await toFile(Buffer.from(`${line("x", "one")}\n${line("x", "two")}\n`), "dup.jsonl"),
      purpose: "batch",
    });
    const refused = await openai.batches.create({ input_file_id: twice.id, endpoint: "/v1/embeddings", completion_window: "24h" });
    api.batch.finish();
    const failed = await openai.batches.retrieve(refused.id);
    expect(failed.status).toBe("failed");
    expect(failed.errors?.data?.[0]?.code).toBe("duplicate_custom_id");
    expect(failed.output_file_id).toBeNull();
  });

  it("expires or cancels with half the lines done, the rest in the error file; refuses a batch of a file not for batches", async () => {
    const openai = client();
    const text = Array.from({ length: 4 }, (_, i) => line(`r${i}`, `text ${i}`)).join("\n");
    const file = await openai.files.create({ file: await toFile(Buffer.from(text), "in.jsonl"), purpose: "batch" });
    const expiring = await openai.batches.create({ input_file_id: file.id, endpoint: "/v1/embeddings", completion_window: "24h" });
    api.batch.finish("expired");
    const expired = await openai.batches.retrieve(expiring.id);
    expect(expired).toMatchObject({ status: "expired", request_counts: { total: 4, completed: 2, failed: 2 } });
    const errors = (await (await openai.files.content(expired.error_file_id!)).text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(errors.every((e) => e.error.code === "batch_expired" && e.response === null)).toBe(true);

    const cancelling = await openai.batches.create({ input_file_id: file.id, endpoint: "/v1/embeddings", completion_window: "24h" });
    expect((await openai.batches.cancel(cancelling.id)).status).toBe("cancelling");
    api.batch.finish();
    expect((await openai.batches.retrieve(cancelling.id)).status).toBe("cancelled");

    const other = await openai.files.create({ file: await toFile(Buffer.from(text), "in.jsonl"), purpose: "user_data" });
    await expect(openai.batches.create({ input_file_id: other.id, endpoint: "/v1/embeddings", completion_window: "24h" })).rejects.toThrow(
      /400/,
    );
  });
});

describe("request and answer lines", () => {
  it("writes one embeddings request a line, dimensions only for the text-embedding-3 family, and reads answers and failures by custom_id", () => {
    const small = requestLines(
      [
        { customId: "h1", text: "a" },
        { customId: "h2", text: "b" },
      ],
      { model: "text-embedding-3-small", dimensions: 512 },
      "base64",
    );
    expect(
      small
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    ).toEqual([
      {
        custom_id: "h1",
        method: "POST",
        url: "/v1/embeddings",
        body: { model: "text-embedding-3-small", input: "a", dimensions: 512, encoding_format: "base64" },
      },
      {
        custom_id: "h2",
        method: "POST",
        url: "/v1/embeddings",
        body: { model: "text-embedding-3-small", input: "b", dimensions: 512, encoding_format: "base64" },
      },
    ]);
    expect(
      JSON.parse(requestLines([{ customId: "h", text: "a" }], { model: "nomic-embed-text", dimensions: 768 })).body,
    ).not.toHaveProperty("dimensions");

    const results: BatchResults = { answers: new Map(), failed: new Map() };
    const vector = Buffer.from(new Float32Array([0.5, -1]).buffer).toString("base64");
    readLine(
      JSON.stringify({
        id: "r1",
        custom_id: "h1",
        response: { status_code: 200, body: { data: [{ index: 0, embedding: vector }], usage: { prompt_tokens: 7 } } },
        error: null,
      }),
      results,
    );
    readLine(
      JSON.stringify({
        id: "r2",
        custom_id: "h2",
        response: { status_code: 400, body: { error: { message: 'Invalid input: "secret row text"' } } },
        error: null,
      }),
      results,
    );
    readLine(JSON.stringify({ id: "r3", custom_id: "h3", response: null, error: { code: "batch_expired", message: "…" } }), results);
    expect([...results.answers.get("h1")!.vector]).toEqual([0.5, -1]);
    expect(results.answers.get("h1")!.tokens).toBe(7);
    // Why a line failed, never its message (it may quote the row's text).
    expect(Object.fromEntries(results.failed)).toEqual({ h2: "status 400", h3: "batch_expired" });
  });
});

describe("the Batch API path", () => {
  it("is off unless EMBEDDING_BATCH_API=true, and waits for EMBEDDING_BATCH_MIN_ITEMS", async () => {
    await backfill(12);
    expect((await runBatches(depsWith({ EMBEDDING_BATCH_API: "false" }))).submitted).toEqual([]);
    expect((await runBatches(depsWith({ EMBEDDING_BATCH_MIN_ITEMS: "13" }))).submitted).toEqual([]);
    expect(api.batch.batches.size).toBe(0);
    expect(await queueStatuses()).toEqual({ pending: 12 });
    // While the backlog is big enough for a batch, the live drain leaves it to the Batch API; below, it takes it.
    expect(await drain(depsWith(), { budgetMs: 10_000 })).toMatchObject({ claimed: 0, remaining: 0 });
    expect(await drain(depsWith({ EMBEDDING_BATCH_MIN_ITEMS: "13" }), { budgetMs: 10_000 })).toMatchObject({ done: 12 });
    expect(api.batch.batches.size).toBe(0);
  });

  it("round trip: backfill rows → batch → poll → stored, booked on the batch path at half the live price", async () => {
    const deps = depsWith();
    const ids = await backfill(40);
    const first = await scheduledRun(deps);
    expect(first.submitted).toEqual([expect.objectContaining({ rows: 40, inputs: 40 })]);
    // The rows are the batch's: the live drain neither takes nor counts them while it runs.
    expect(await queueStatuses()).toEqual({ processing: 40 });
    const [lease] = await connection.db.select({ until: embeddingQueue.lockedUntil }).from(embeddingQueue).limit(1);
    expect(lease!.until!.getTime()).toBeGreaterThan(Date.now() + BATCH_LEASE_MS - 3_600_000);
    const drained = await drain(deps, { budgetMs: 10_000 });
    expect(drained).toMatchObject({ claimed: 0, remaining: 0 });
    expect(api.requests).toHaveLength(0);

    // In progress: polled, nothing stored yet.
    expect((await scheduledRun(deps)).polled).toEqual([expect.objectContaining({ status: "in_progress", stored: 0 })]);
    expect(await connection.db.$count(embeddings)).toBe(0);

    api.batch.finish();
    const settled = await scheduledRun(deps);
    expect(settled.polled).toEqual([expect.objectContaining({ status: "completed", stored: 40, returned: 0, failed: 0, left: 0 })]);
    expect(settled.submitted).toEqual([]);
    expect(await queueStatuses()).toEqual({ done: 40 });
    expect(await connection.db.$count(embeddings, inArray(embeddings.contentId, ids))).toBe(40);
    expect(await connection.db.$count(embeddingBatchRows)).toBe(0);
    const [batch] = await connection.db.select().from(embeddingBatches);
    expect(batch).toMatchObject({ state: "settled", providerStatus: "completed", tokens: api.batch.tokens });
    // No live request was made: every vector came from the batch.
    expect(api.requests).toHaveLength(0);

    const rows = await ledger(deps);
    expect(rows).toEqual([
      expect.objectContaining({ path: "batch", lane: "database", model: "text-embedding-3-small", inputs: 40, tokens: api.batch.tokens }),
    ]);
    const livePrice = (api.batch.tokens * 0.02) / 1e6;
    expect(totalOf(rows).usd).toBeCloseTo(livePrice / 2, 12);

    // Polled again, a settled batch is not polled; it never books twice.
    expect((await scheduledRun(deps)).polled).toEqual([]);
    expect(totalOf(await ledger(deps)).tokens).toBe(api.batch.tokens);
  });

  it("sends a large backlog as several batches of EMBEDDING_BATCH_MAX_INPUTS, and leaves a remainder under the threshold to the drain", async () => {
    const deps = depsWith({ EMBEDDING_BATCH_MAX_INPUTS: "10" });
    await backfill(25);
    const run = await runBatches(deps);
    expect(run.submitted.map((s) => s.inputs)).toEqual([10, 10]);
    expect(await queueStatuses()).toEqual({ processing: 20, pending: 5 });
    expect(await drain(deps, { budgetMs: 10_000 })).toMatchObject({ done: 5 });
    api.batch.finish();
    expect((await runBatches(deps)).polled.map((p) => p.stored)).toEqual([10, 10]);
    expect(await queueStatuses()).toEqual({ done: 25 });
  });

  it("fills a batch a step at a time, each step's claim and its record in a short transaction of its own; nothing is lost", async () => {
    const deps = depsWith({ EMBEDDING_BATCH_MAX_INPUTS: "10" });
    await backfill(25);
    // The transactions a submit opens, counted (the database behind is the real one).
    let transactions = 0;
    const db = new Proxy(deps.db, {
      get: (target, key) => {
        const value = Reflect.get(target, key);
        if (key === "transaction") transactions++;
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const sent = await submitBatch({ ...deps, db }, batchApiOf(deps)!, Date.now(), 4);
    expect(sent).toMatchObject({ rows: 10, inputs: 10 });
    // Steps of 4, 4 and the 2 the batch had room for: each claimed and recorded in its own transaction.
    expect(transactions).toBe(3);
    expect(await queueStatuses()).toEqual({ processing: 10, pending: 15 });
    expect(await connection.db.$count(embeddingBatchRows)).toBe(10);
    expect(await submitBatch(deps, batchApiOf(deps)!, Date.now(), 3)).toMatchObject({ rows: 10, inputs: 10 });
    api.batch.finish();
    expect((await runBatches(deps)).polled.map((p) => p.stored)).toEqual([10, 10]);
    // The 5 left, under the threshold, are the drain's.
    expect(await drain(deps, { budgetMs: 10_000 })).toMatchObject({ done: 5 });
    expect(await queueStatuses()).toEqual({ done: 25 });
    expect(await connection.db.$count(embeddingBatchRows)).toBe(0);
  });

  it("stores a batch a group at a time in lock-bucket order, so that each write holds few of the items' locks", async () => {
    const deps = depsWith();
    const ids = await backfill(250);
    expect((await runBatches(deps)).submitted).toEqual([expect.objectContaining({ rows: 250 })]);
    api.batch.finish();
    // A clock the test holds, a second further on each reading: the poll's budget lets one group through.
    let now = 0;
    const clock = { now: () => (now += 1000), sleep: async () => undefined };
    const [first] = await pollBatches(deps, batchApiOf(deps)!, Budget.start(2500, clock));
    expect(first).toMatchObject({ status: "completed", stored: STORE_GROUP, left: 250 - STORE_GROUP });
    // The first group is the items of the lowest buckets (which of two items sharing the group's last
    // bucket goes first is the queue's order, not the test's).
    const bucketOf = (contentId: string) => lockBucket({ contentType: "post", contentId });
    const stored = new Set((await connection.db.select({ id: embeddings.contentId }).from(embeddings)).map((row) => row.id));
    expect(stored.size).toBe(STORE_GROUP);
    const left = ids.filter((id) => !stored.has(id));
    expect(Math.max(...[...stored].map(bucketOf))).toBeLessThanOrEqual(Math.min(...left.map(bucketOf)));
    // The next poll stores the rest and settles the batch.
    expect((await runBatches(deps)).polled).toEqual([expect.objectContaining({ stored: 250 - STORE_GROUP, left: 0 })]);
    expect(await queueStatuses()).toEqual({ done: 250 });
    expect(await connection.db.select({ state: embeddingBatches.state }).from(embeddingBatches)).toEqual([{ state: "settled" }]);
  });

  it("live first: the store waits for live-lane work before each group, at most MAX_YIELD_MS, so steady live traffic slows it but never stops it", async () => {
    const deps = depsWith();
    await backfill(3 * STORE_GROUP);
    expect((await runBatches(deps)).submitted).toEqual([expect.objectContaining({ rows: 3 * STORE_GROUP })]);
    api.batch.finish();
    // A live change (a post: the queued lane) whose doorbell is rung but whose run never comes: steady
    // live traffic, as the store sees it.
    const [post] = await connection.db
      .insert(communityPost)
      .values({ title: "Live", body: "Written while the batch settles." })
      .returning();
    await holdLanes(connection.db, [{ lane: "queued", leaseMs: 60_000 }], "ringing");
    const [live] = await connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.contentId, post!.id));
    expect(live).toMatchObject({ status: "pending", priority: 4 });
    // A clock the test holds: time passes only while the store waits; `liveUntil` ends the live work.
    let now = 0;
    let liveUntil = Number.POSITIVE_INFINITY;
    const slept: number[] = [];
    const clock = {
      now: () => now,
      sleep: async (ms: number) => {
        slept.push(ms);
        now += ms;
        if (now >= liveUntil) await connection.db.update(embeddingQueue).set({ status: "done" }).where(eq(embeddingQueue.id, live!.id));
      },
    };
    // 2.5 s: two groups, each after MAX_YIELD_MS of waiting, then the budget runs out waiting for the third.
    const [first] = await pollBatches(deps, batchApiOf(deps)!, Budget.start(2_500, clock));
    expect(first).toMatchObject({ stored: 2 * STORE_GROUP, left: STORE_GROUP, yieldedMs: 2 * MAX_YIELD_MS + 500 });
    expect(Math.max(...slept)).toBe(YIELD_STEP_MS);
    // The rows left are still the batch's, for the next poll; the live row was never touched.
    expect(await connection.db.$count(embeddingBatchRows)).toBe(STORE_GROUP);
    expect(await queueStatuses()).toEqual({ done: 2 * STORE_GROUP, processing: STORE_GROUP, pending: 1 });
    expect(await connection.db.select({ state: embeddingBatches.state }).from(embeddingBatches)).toEqual([{ state: "settling" }]);

    // The live change done 300 ms into the next poll: the store waits that long, no more, and settles the batch.
    liveUntil = now + 300;
    const [second] = await pollBatches(deps, batchApiOf(deps)!, Budget.start(60_000, clock));
    expect(second).toMatchObject({ stored: STORE_GROUP, left: 0, yieldedMs: 300 });
    expect(await queueStatuses()).toEqual({ done: 3 * STORE_GROUP + 1 });
    expect(await connection.db.select({ state: embeddingBatches.state }).from(embeddingBatches)).toEqual([{ state: "settled" }]);
  });

  it("live first waits for no paused lane: its rows wait for the resume, not for the store", async () => {
    const deps = depsWith();
    await backfill(STORE_GROUP);
    await runBatches(deps);
    api.batch.finish();
    await connection.db.insert(communityPost).values({ title: "Live", body: "Written while the queued lane is paused." });
    await holdLanes(connection.db, [{ lane: "queued", leaseMs: 60_000 }], "ringing");
    let now = 0;
    const clock = { now: () => now, sleep: async (ms: number) => void (now += ms) };
    await pause(connection.db, "lane", "queued");
    try {
      const [poll] = await pollBatches(deps, batchApiOf(deps)!, Budget.start(60_000, clock));
      expect(poll).toMatchObject({ stored: STORE_GROUP, left: 0, yieldedMs: 0 });
    } finally {
      await resume(connection.db, "lane", "queued");
    }
    expect(await queueStatuses()).toEqual({ done: STORE_GROUP, pending: 1 });
  });

  it("live first waits only to store: a failed batch gives its rows back at once, live work or not", async () => {
    const deps = depsWith();
    await backfill(2 * STORE_GROUP);
    await runBatches(deps);
    api.batch.finish("failed");
    await connection.db.insert(communityPost).values({ title: "Live", body: "Written while the batch fails." });
    await holdLanes(connection.db, [{ lane: "queued", leaseMs: 60_000 }], "ringing");
    let now = 0;
    const clock = { now: () => now, sleep: async (ms: number) => void (now += ms) };
    const [poll] = await pollBatches(deps, batchApiOf(deps)!, Budget.start(60_000, clock));
    expect(poll).toMatchObject({ status: "failed", stored: 0, returned: 2 * STORE_GROUP, left: 0, yieldedMs: 0 });
    expect(await queueStatuses()).toEqual({ pending: 2 * STORE_GROUP + 1 });
  });

  it("an item edited while its batch runs keeps its new text: the stale vector is never stored, the live lane embeds the edit", async () => {
    const deps = depsWith();
    const ids = await backfill(15);
    expect((await runBatches(deps)).submitted).toEqual([expect.objectContaining({ rows: 15 })]);
    const edited = ids[3]!;
    await connection.db
      .update(communityPost)
      .set({ body: "Jupiter's moons instead, edited after the batch was sent." })
      .where(eq(communityPost.id, edited));
    // The edit's own row is pending beside the batch's (the live lanes' work).
    expect(await queueStatuses()).toEqual({ processing: 15, pending: 1 });

    api.batch.finish();
    const settled = await runBatches(deps);
    expect(settled.polled).toEqual([expect.objectContaining({ stored: 14, returned: 1 })]);
    expect(await connection.db.$count(embeddings, eq(embeddings.contentId, edited))).toBe(0);
    // The batch's row of the edited item went: the edit's pending row covers it.
    expect(await queueStatuses()).toEqual({ done: 14, pending: 1 });

    await drain(deps, { budgetMs: 10_000 });
    const [stored] = await connection.db.select().from(embeddings).where(eq(embeddings.contentId, edited));
    expect(stored!.chunkText).toContain("Jupiter's moons instead");
    expect(stored!.contentHash).toBe(await contentHash(stored!.chunkText, "text-embedding-3-small", 1536));
    const paths = Object.fromEntries((await ledger(deps)).map((r) => [r.path, r.inputs]));
    expect(paths).toEqual({ batch: 15, live: 1 });
  });

  it("gives a backlog with nothing to embed to the live lanes for good: a second backfill of embedded rows is drained, not held", async () => {
    const ids = await backfill(12);
    expect(await drain(depsWith({ EMBEDDING_BATCH_MIN_ITEMS: "100" }), { budgetMs: 10_000 })).toMatchObject({ done: 12 });
    const live = api.requests.length;
    // The same rows queued again at backfill priority (npm run backfill once more): their text is embedded already.
    await queueItems(
      connection.db,
      ids.map((contentId) => ({ contentType: "post", contentId, priority: BACKGROUND_PRIORITY, op: "upsert" as const })),
      "backfill",
    );
    const deps = depsWith();
    expect((await runBatches(deps)).submitted).toEqual([]);
    expect(api.batch.batches.size).toBe(0);
    // Over the threshold still, yet no longer the Batch API's: the drain takes them, at no cost.
    expect(await drain(deps, { budgetMs: 10_000 })).toMatchObject({ claimed: 12, done: 12 });
    expect(api.requests).toHaveLength(live);
    expect(await queueStatuses()).toEqual({ done: 24 });
  });

  it("fills a model switch's shadow through a batch of the shadow's model, at its batch price, with no live request; an edit goes live", async () => {
    const large = fakeServerEmbedder(api, { model: "text-embedding-3-large", dimensions: 256 });
    const deps = { ...depsWith({ EMBEDDING_BATCH_MIN_ITEMS: "10" }), shadowEmbedder: large };
    const ids = await backfill(12);
    // The serving set first, live (a backlog under the threshold is the drain's).
    expect(await drain(depsWith({ EMBEDDING_BATCH_MIN_ITEMS: "100" }), { budgetMs: 10_000 })).toMatchObject({ done: 12 });
    const live = api.requests.length;
    try {
      expect(await createShadow(connection.db, { model: large.model, dimensions: 256, storage: "vector" }, deps.embedder)).toEqual({
        copied: 0,
        queued: 12,
      });
      const sent = await runBatches(deps);
      expect(sent.submitted).toEqual([expect.objectContaining({ rows: 12, inputs: 12 })]);
      const [batch] = await connection.db.select().from(embeddingBatches);
      expect(batch).toMatchObject({ model: "text-embedding-3-large", dimensions: 256 });
      // Edited while the batch runs: the shadow's answer for the old text is never stored for it.
      const edited = ids[5]!;
      await connection.db
        .update(communityPost)
        .set({ body: "Comets this time, edited after the batch was sent." })
        .where(eq(communityPost.id, edited));

      api.batch.finish();
      expect((await runBatches(deps)).polled).toEqual([expect.objectContaining({ stored: 11, returned: 1, failed: 0 })]);
      // Settling made no live request, for either set: the edit waits for the live lanes.
      expect(api.requests).toHaveLength(live);
      expect(await shadowCoverage(connection.db)).toMatchObject({ missingItems: 1 });
      const [shadowRow] = await rowsOf<{ model: string; dimensions: number; n: number }>(
        connection.db.execute(sql`SELECT model, dimensions, count(*)::int AS n FROM embeddings_shadow GROUP BY 1, 2`),
      );
      expect(shadowRow).toEqual({ model: "text-embedding-3-large", dimensions: 256, n: 11 });

      await drain(deps, { budgetMs: 10_000 });
      expect(await shadowCoverage(connection.db)).toMatchObject({ missingItems: 0 });
      expect(
        api.requests
          .slice(live)
          .map((r) => r.model)
          .sort(),
      ).toEqual(["text-embedding-3-large", "text-embedding-3-small"]);
      const batchRows = (await ledger(deps)).filter((r) => r.path === "batch");
      expect(batchRows).toEqual([expect.objectContaining({ model: "text-embedding-3-large", inputs: 12, tokens: api.batch.tokens })]);
      expect(totalOf(batchRows).usd).toBeCloseTo((api.batch.tokens * 0.13) / 1e6 / 2, 12);
    } finally {
      await dropShadow(connection.db);
    }
  });

  it("an expired batch stores what it answered and gives the rest back to the live lanes", async () => {
    const deps = depsWith();
    await backfill(20);
    await runBatches(deps);
    api.batch.finish("expired");
    const settled = await runBatches(deps);
    expect(settled.polled).toEqual([expect.objectContaining({ status: "expired", stored: 10, returned: 10 })]);
    // Given back, they are the live lanes': never sent to a batch again.
    expect(settled.submitted).toEqual([]);
    expect(await queueStatuses()).toEqual({ done: 10, pending: 10 });
    const back = await connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.status, "pending"));
    expect(back.every((r) => r.lastError === "Batch API: the batch expired" && r.priority === BACKGROUND_PRIORITY)).toBe(true);
    // Only what OpenAI answered is billed and booked.
    expect(totalOf(await ledger(deps))).toMatchObject({ inputs: 10, tokens: api.batch.tokens });

    const drained = await drain(deps, { budgetMs: 10_000 });
    expect(drained).toMatchObject({ done: 10, failed: 0 });
    expect(await connection.db.$count(embeddings)).toBe(20);
  });

  it("a failed batch gives every row back, and the budget's reservation is released", async () => {
    const deps = depsWith({ EMBEDDING_BUDGET_TOKENS: "1000000" });
    await backfill(12);
    await runBatches(deps);
    const [held] = await connection.db.select().from(embeddingBudget);
    expect(held!.reservedTokens).toBeGreaterThan(0);
    api.batch.finish("failed");
    const settled = await runBatches(deps);
    expect(settled.polled).toEqual([expect.objectContaining({ status: "failed", stored: 0, returned: 12 })]);
    expect(await queueStatuses()).toEqual({ pending: 12 });
    const [after] = await connection.db.select().from(embeddingBudget);
    expect({ reserved: after!.reservedTokens, spent: after!.tokens }).toEqual({ reserved: 0, spent: 0 });
    expect(await connection.db.$count(embeddingSpend)).toBe(0);
  });

  it("sends nothing past the budget: a batch whose estimate does not fit is not sent, its rows wait with no attempt counted", async () => {
    const deps = depsWith({ EMBEDDING_BUDGET_TOKENS: "100" });
    await backfill(12);
    expect((await runBatches(deps)).submitted).toEqual([]);
    expect(api.batch.batches.size).toBe(0);
    const rows = await connection.db.select().from(embeddingQueue);
    expect(rows.map((r) => [r.status, r.attempts])).toEqual(Array.from({ length: 12 }, () => ["pending", 0]));
    expect(
      await connection.db.select({ state: embeddingBatches.state, lastError: embeddingBatches.lastError }).from(embeddingBatches),
    ).toEqual([{ state: "settled", lastError: expect.stringMatching(/budget is spent/) }]);
  });

  it("a partial output: lines in the error file go back to the live lanes, the others are stored", async () => {
    const deps = depsWith();
    const ids = await backfill(12);
    const refusedText = `Telescope note 5\n\nSaturn's rings at 35 times, seen from a dark site.`;
    await runBatches(deps);
    // Refuse the lines whose text is post 5's, whatever its hash.
    const file = [...api.batch.files.values()].find((f) => f.purpose === "batch")!;
    const refused = new Set(
      file.bytes
        .toString("utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { custom_id: string; body: { input: string } })
        .filter((l) => l.body.input.includes("at 35 times"))
        .map((l) => l.custom_id),
    );
    expect(refused.size).toBe(1);
    api.batch.failLine = (id) => refused.has(id);
    api.batch.finish();
    const settled = await runBatches(deps);
    expect(settled.polled).toEqual([expect.objectContaining({ status: "completed", stored: 11, returned: 1 })]);
    const [back] = await connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.status, "pending"));
    expect(back!.contentId).toBe(ids[5]);
    await drain(deps, { budgetMs: 10_000 });
    expect(await connection.db.$count(embeddings)).toBe(12);
    expect(refusedText).toContain("35 times");
  });

  it("a batch left 'preparing' by a run that died gives its rows back", async () => {
    const deps = depsWith();
    const ids = await backfill(3);
    const rows = await connection.db.select().from(embeddingQueue);
    const [batch] = await connection.db
      .insert(embeddingBatches)
      .values({
        model: "text-embedding-3-small",
        dimensions: 1536,
        leaseUntil: new Date(Date.now() + BATCH_LEASE_MS),
        createdAt: new Date(Date.now() - 3_600_000),
      })
      .returning();
    await connection.db
      .update(embeddingQueue)
      .set({ status: "processing", lockedUntil: new Date(Date.now() + BATCH_LEASE_MS) })
      .where(inArray(embeddingQueue.contentId, ids));
    await connection.db
      .insert(embeddingBatchRows)
      .values(
        rows.map((r) => ({ batchId: batch!.id, queueId: r.id, contentType: r.contentType, contentId: r.contentId, priority: r.priority })),
      );
    const run = await runBatches(depsWith({ EMBEDDING_BATCH_MIN_ITEMS: "1000" }));
    expect(run.polled).toEqual([expect.objectContaining({ id: batch!.id, returned: 3 })]);
    expect(await queueStatuses()).toEqual({ pending: 3 });
    expect(
      await connection.db.$count(embeddingBatches, and(eq(embeddingBatches.id, batch!.id), eq(embeddingBatches.state, "settled"))),
    ).toBe(1);
    expect(deps.config.batch.enabled).toBe(true);
    // Maintenance deletes settled batches a month old.
    expect(await pruneBatches(connection.db)).toBe(0);
    await connection.db.update(embeddingBatches).set({ settledAt: new Date(Date.now() - 31 * 86_400_000) });
    expect(await pruneBatches(connection.db)).toBe(1);
  });
});
