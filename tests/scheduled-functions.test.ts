import { randomUUID } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { drain } from "../functions/drain";
import { startRun } from "../functions/lib/budget";
import { maintain } from "../functions/maintenance";
import { DRAIN_CHAIN } from "../functions/qstash/lanes";
import { claimBatch, MAX_RETRY_ROUNDS } from "../functions/queue";
import { retryFailed } from "../functions/retry-failed";
import { communityComment, communityPost, course, courseLesson, embeddingQueue, embeddings, jobRuns, searchLog } from "../schema";
import { FakeClock } from "../testing/fake-clock";
import { qstashToken } from "../testing/qstash-token";
import { startTestStack, type TestStack } from "./support/stack";
import { waitFor } from "./support/wait-for";

let stack: TestStack;
const BUDGET_MS = 1000;
const BATCH_SIZE = 10;
// The chain tests run the stack's drains on a clock that moves only when the embedding API answers,
// MS_PER_INPUT for each input: a run then embeds at most its work budget's worth of items whatever the
// machine's speed, so a few hundred items need several runs on a fast PostgreSQL and a busy machine alike.
const MS_PER_INPUT = 20;
const MAX_PER_RUN = startRun(BUDGET_MS).workMs / MS_PER_INPUT;
const runOnApiTime = () => {
  const clock = new FakeClock();
  stack.deps.clock = clock; // the functions read their deps per call
  stack.api.onAnswer = (inputs) => (clock.time += MS_PER_INPUT * inputs);
};
beforeAll(async () => {
  stack = await startTestStack({ env: { DRAIN_BATCH_SIZE: String(BATCH_SIZE), DRAIN_BUDGET_MS: String(BUDGET_MS) } });
});
afterAll(() => stack.close());
beforeEach(async () => {
  await stack.connection.db.delete(embeddingQueue);
  await stack.connection.db.delete(jobRuns);
  stack.api.alwaysFail = undefined;
  stack.api.onAnswer = undefined;
  stack.deps.clock = undefined;
});

const statusCounts = async () => {
  const rows = await stack.connection.db
    .select({ status: embeddingQueue.status, n: sql<number>`count(*)::int` })
    .from(embeddingQueue)
    .groupBy(embeddingQueue.status);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
};

const drainRuns = () => stack.connection.db.select().from(jobRuns).where(eq(jobRuns.job, "drain")).orderBy(jobRuns.startedAt);

describe("drain", () => {
  it("drains a backlog across several budgeted runs that chain themselves", async () => {
    const items = 3 * MAX_PER_RUN;
    runOnApiTime();
    const rows = Array.from({ length: items }, (_, i) => ({ body: `Backlog comment ${i} on study habits` }));
    await stack.connection.db.insert(communityComment).values(rows);
    expect(await statusCounts()).toEqual({ pending: items });
    await stack.trigger("drain");
    await waitFor(async () => (await statusCounts()).done === items, 240_000, "the backlog to drain");
    expect(await stack.connection.db.$count(embeddings, eq(embeddings.contentType, "comment"))).toBe(items);
    // A run records itself after settling its rows: the chain's last record may come a moment later.
    const runs = await waitFor(
      async () => {
        const recorded = await drainRuns();
        return recorded.some((r) => !r.summary.chained) && recorded;
      },
      20_000,
      "the chain's last run to be recorded",
    );
    expect(runs.length).toBeGreaterThan(2);
    // Every run ended on its own account; that a run keeps to its budget is proven on a clock the
    // test holds (tests/run-budget.test.ts), not by wall time, which a busy machine stretches.
    for (const run of runs) expect(run.ok).toBe(true);
    expect(runs.slice(0, -1).every((r) => r.summary.chained === true)).toBe(true);
    expect(runs.at(-1)!.summary).toMatchObject({ remaining: 0, chained: false });
  }, 300_000);

  it("runs chained drains at most two at once, however many scheduled runs started chains", async () => {
    // The four scheduled runs leave at least 3 runs' worth to their chains.
    const items = 7 * MAX_PER_RUN;
    runOnApiTime();
    await stack.connection.db
      .insert(communityComment)
      .values(Array.from({ length: items }, (_, i) => ({ body: `Long backlog comment ${i}` })));
    // Four minutes' schedules fire while the backlog lasts: four chains.
    await Promise.all([1, 2, 3, 4].map(() => stack.trigger("drain")));
    await waitFor(async () => (await statusCounts()).done === items, 240_000, "the backlog to drain");
    // Each chain ends with a run that does not chain.
    await waitFor(async () => (await drainRuns()).filter((r) => !r.summary.chained).length >= 4, 20_000, "the four chains to end");
    const runs = await drainRuns();
    // The four scheduled runs start first: a chained run is published only when a run ends.
    const chained = runs.slice(4);
    expect(chained.length).toBeGreaterThan(2);
    const overlapping = (at: Date) => chained.filter((r) => r.startedAt <= at && at < r.finishedAt).length;
    expect(Math.max(...chained.map((r) => overlapping(r.startedAt)))).toBeLessThanOrEqual(DRAIN_CHAIN.parallelism);
  }, 300_000);

  it("loses nothing when a run dies mid-batch: its claim expires and the next run finishes", async () => {
    const [post] = await stack.connection.db.insert(communityPost).values({ title: "Claimed by a run that died" }).returning();
    // A lease of 2 s: the next drain reads the claim gate first, and on a busy machine 300 ms ran out before it claimed.
    const claimed = await claimBatch(stack.connection.db, 10, 2000);
    expect(claimed.map((c) => c.contentId)).toEqual([post!.id]);
    // The run "dies" here. Until the lease ends, no other run takes the row.
    expect((await drain(stack.deps, { budgetMs: 20_000 })).claimed).toBe(0);
    await new Promise((r) => setTimeout(r, 2050));
    // Budgets cut a run's requests: a generous one, as this run is about the lease, not the budget.
    const summary = await drain(stack.deps, { budgetMs: 20_000 });
    expect(summary).toMatchObject({ claimed: 1, done: 1 });
    expect(await stack.embeddedChunks(post!.id)).toBe(1);
  });

  it("backs items off on a transient error and fails them past the attempt limit", async () => {
    const [post] = await stack.connection.db.insert(communityPost).values({ title: "Flaky API" }).returning();
    stack.api.alwaysFail = { status: 503, headers: { "retry-after-ms": "1" } };
    const summary = await drain(stack.deps, { budgetMs: 2000 });
    expect(summary).toMatchObject({ retried: 1, stoppedBy: "transient-error" });
    const [row] = await stack.connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.contentId, post!.id));
    expect(row).toMatchObject({ status: "pending", attempts: 1 });
    expect(row!.runAfter.getTime()).toBeGreaterThan(Date.now() + 20_000);
    expect(row!.lastError).toMatch(/503/);
    // Past the attempt limit the row is failed, with the error.
    await stack.connection.db.update(embeddingQueue).set({ attempts: 4, runAfter: sql`now()` });
    await drain(stack.deps, { budgetMs: 2000 });
    const [failed] = await stack.connection.db.select().from(embeddingQueue);
    expect(failed).toMatchObject({ status: "failed", attempts: 5 });
    expect(failed!.lastError).toMatch(/gave up after 5 attempts/);
  });

  it("settles deletions while the embedding API refuses the batch's other items", async () => {
    const [kept, gone] = await stack.connection.db
      .insert(communityComment)
      .values([{ body: "Refused comment" }, { body: "Deleted comment" }])
      .returning();
    // Budgets this file's 1 s would not hold on a busy machine: these runs must finish their batch.
    await drain(stack.deps, { budgetMs: 30_000 });
    expect(await stack.embeddedChunks(gone!.id)).toBe(1);
    await stack.connection.db.update(communityComment).set({ body: "Refused comment, edited" }).where(eq(communityComment.id, kept!.id));
    await stack.connection.db.delete(communityComment).where(eq(communityComment.id, gone!.id));
    stack.api.alwaysFail = { status: 400 };
    const summary = await drain(stack.deps, { budgetMs: 30_000 });
    expect(summary).toMatchObject({ done: 1, failed: 1 });
    expect(await stack.embeddedChunks(gone!.id)).toBe(0);
    const rows = await stack.connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.op, "delete"));
    expect(rows.map((r) => [r.contentId, r.status])).toEqual([[gone!.id, "done"]]);
    const [failed] = await stack.connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.status, "failed"));
    expect(failed).toMatchObject({ contentId: kept!.id, lastError: expect.stringMatching(/400/) });
  });

  it("takes higher priorities first", async () => {
    await stack.connection.db.insert(communityComment).values({ body: "low priority" });
    await stack.connection.db.insert(communityPost).values({ title: "higher priority" });
    const claimed = await claimBatch(stack.connection.db, 1, 60_000);
    expect(claimed[0]!.contentType).toBe("post");
  });
});

describe("maintenance", () => {
  it("deletes old search logs, old done rows and orphans; releases expired claims; requeues other models", async () => {
    const db = stack.connection.db;
    await db.delete(searchLog);
    await db.insert(searchLog).values([
      { query: "old", resultCount: 1, milliseconds: 1, createdAt: new Date(Date.now() - 31 * 86_400_000) },
      { query: "new", resultCount: 1, milliseconds: 1 },
    ]);
    const [kept] = await db.insert(communityPost).values({ title: "Kept" }).returning();
    const [gone] = await db.insert(communityPost).values({ title: "Deleted without a trigger" }).returning();
    await db.delete(embeddingQueue);
    await drain(stack.deps, { budgetMs: 1000 }).catch(() => undefined);
    await db.insert(embeddingQueue).values([
      { contentType: "post", contentId: kept!.id, status: "processing", lockedUntil: new Date(Date.now() - 1000) },
      { contentType: "comment", contentId: "old-done", status: "done", updatedAt: new Date(Date.now() - 8 * 86_400_000) },
      { contentType: "comment", contentId: "recent-done", status: "done" },
    ]);
    await stack.connection.db.transaction(async (tx) => {
      await tx.execute(sql`ALTER TABLE community_post DISABLE TRIGGER USER`);
      await tx.delete(communityPost).where(eq(communityPost.id, gone!.id));
      await tx.execute(sql`ALTER TABLE community_post ENABLE TRIGGER USER`);
    });
    await db
      .insert(embeddings)
      .values({
        contentType: "post",
        contentId: gone!.id,
        chunkIndex: 0,
        chunkText: "orphan",
        contentHash: "x",
        model: "text-embedding-3-small",
        dimensions: 1536,
        embedding: Array(1536).fill(0.01),
      })
      .onConflictDoNothing();
    await db
      .insert(embeddings)
      .values({
        contentType: "post",
        contentId: kept!.id,
        chunkIndex: 0,
        chunkText: "Kept",
        contentHash: "old",
        model: "an-old-model",
        dimensions: 1536,
        embedding: Array(1536).fill(0.01),
      })
      .onConflictDoUpdate({
        target: [embeddings.contentType, embeddings.contentId, embeddings.chunkIndex],
        set: { model: "an-old-model" },
      });

    // The sweep for rows written past the triggers has its own tests (reconcile.test.ts): none here.
    const summary = await maintain(stack.deps, { driftRows: 0 });
    expect(summary).toEqual({
      searchLogsDeleted: 1,
      doneRowsDeleted: 1,
      expiredClaimsReleased: 1,
      orphanEmbeddingsDeleted: 1,
      staleModelItemsQueued: 1,
      expiredSignaturesDeleted: 0,
      textConfigsRealigned: 0,
      indexRebuilt: false,
      hiddenEmbeddingsDeleted: 0,
      driftRowsChecked: 0,
      driftedRowsQueued: 0,
      driftCursor: { type: "profile", afterId: null },
      // The cost ledger's days past SPEND_RETENTION_DAYS (this file's runs book on its clock), old budget periods.
      spendRowsDeleted: expect.any(Number),
      budgetPeriodsDeleted: 0,
      settledBatchesDeleted: 0,
      trendRowsDeleted: 0,
    });
    expect((await db.select().from(searchLog)).map((r) => r.query)).toEqual(["new"]);
    expect(await stack.embeddedChunks(gone!.id)).toBe(0);
    const pending = await db.select().from(embeddingQueue).where(eq(embeddingQueue.status, "pending"));
    // The released claim and the stale-model item are the same row: one pending row for it.
    expect(pending.map((r) => r.contentId)).toEqual([kept!.id]);
  });
});

describe("maintenance reconciles embeddings with their rows and parents", () => {
  it("removes the embeddings of rows hidden or deleted without the triggers, and of their children", async () => {
    const db = stack.connection.db;
    await db.delete(embeddingQueue);
    const [hidden, deleted, kept] = await db
      .insert(course)
      .values([{ title: "Hidden past the triggers" }, { title: "Deleted past the triggers" }, { title: "Kept course" }])
      .returning();
    const lessons = await db
      .insert(courseLesson)
      .values([hidden!, deleted!, kept!].map((c) => ({ courseId: c.id, title: `A lesson of ${c.title}` })))
      .returning();
    for (let i = 0; i < 5 && (await db.$count(embeddingQueue, eq(embeddingQueue.status, "pending"))) > 0; i++) {
      await drain(stack.deps, { budgetMs: 5000 });
    }
    const ids = [hidden!, deleted!, kept!, ...lessons].map((r) => r.id);
    for (const id of ids) expect(await stack.embeddedChunks(id), id).toBe(1);
    // What a replica session (or pg_restore, or a bulk tool) does: no trigger fires, nothing is queued.
    await db.transaction(async (tx) => {
      await tx.execute(sql`SET LOCAL session_replication_role = replica`);
      await tx.update(course).set({ published: false }).where(eq(course.id, hidden!.id));
      await tx.delete(course).where(eq(course.id, deleted!.id));
    });
    expect(await db.$count(embeddingQueue, eq(embeddingQueue.status, "pending"))).toBe(0);

    const summary = await maintain(stack.deps);
    expect(summary.orphanEmbeddingsDeleted).toBe(4);
    expect(await Promise.all(ids.map((id) => stack.embeddedChunks(id)))).toEqual([0, 0, 1, 0, 0, 1]);
  });
});

describe("signed calls replayed", () => {
  /** The same signed request, sent again and again, as someone who captured it would. */
  const replay = async (endpoint: string, body: string, times: number) => {
    const url = `${stack.url}/api/embeddings/${endpoint}`;
    const signature = await qstashToken(stack.emulator!.emulator.options.currentSigningKey, url, body);
    const answers: { status: number; body: Record<string, unknown> }[] = [];
    for (let i = 0; i < times; i++) {
      // An attacker controls the unsigned headers: each replay names another message.
      const response = await fetch(url, {
        method: "POST",
        body,
        headers: { "content-type": "application/json", "upstash-signature": signature, "upstash-message-id": `msg_replay_${i}` },
      });
      answers.push({ status: response.status, body: (await response.json()) as Record<string, unknown> });
    }
    return answers;
  };

  it("chain a drain once, however often they are replayed", async () => {
    stack.emulator!.emulator.setQueuePaused(DRAIN_CHAIN.queueName, true);
    const chained = () => [...stack.emulator!.emulator.messages.values()].filter((m) => m.url.endsWith("/drain"));
    try {
      // A backlog each run leaves most of: small batches, a short budget, and far more rows than five
      // runs can settle on any machine (deletions of rows long gone: quick to settle).
      await stack.connection.db
        .insert(embeddingQueue)
        .values(Array.from({ length: 10_000 }, () => ({ contentType: "comment", contentId: randomUUID(), op: "delete" as const })));
      const answers = await replay("drain", JSON.stringify({ budgetMs: 100, batchSize: 10 }), 5);
      expect(answers.map((a) => [a.status, a.body.chained])).toEqual(Array(5).fill([200, true]));
      expect(chained()).toHaveLength(1);
    } finally {
      for (const message of chained()) stack.emulator!.emulator.cancel(message.messageId);
      stack.emulator!.emulator.setQueuePaused(DRAIN_CHAIN.queueName, false);
    }
  });

  it("run retry-failed and maintenance once each", async () => {
    const db = stack.connection.db;
    await db.insert(embeddingQueue).values({ contentType: "post", contentId: "replayed", status: "failed", lastError: "boom" });
    const retries = await replay("retry-failed", "{}", 3);
    expect(retries.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(retries.map((a) => a.body.replayed ?? false)).toEqual([false, true, true]);
    const [row] = await db.select().from(embeddingQueue).where(eq(embeddingQueue.contentId, "replayed"));
    expect(row).toMatchObject({ status: "pending", retryRounds: 1 });

    const maintenance = await replay("maintenance", "{}", 2);
    expect(maintenance.map((a) => a.body.replayed ?? false)).toEqual([false, true]);
    const runs = await db.select().from(jobRuns);
    expect(runs.map((r) => r.job).sort()).toEqual(["maintenance", "retry-failed"]);
  });
});

describe("retry-failed", () => {
  it("moves failed items back to pending, at most MAX_RETRY_ROUNDS times each", async () => {
    const db = stack.connection.db;
    await db.insert(embeddingQueue).values([
      { contentType: "post", contentId: "a", status: "failed", lastError: "boom", attempts: 5 },
      { contentType: "post", contentId: "b", status: "failed", lastError: "boom", retryRounds: MAX_RETRY_ROUNDS },
      { contentType: "post", contentId: "c", status: "failed", lastError: "boom" },
      { contentType: "post", contentId: "c", status: "pending" },
    ]);
    expect(await retryFailed(stack.deps)).toEqual({ requeued: 2, stillFailed: 1 });
    const rows = await db.select().from(embeddingQueue).orderBy(embeddingQueue.contentId, embeddingQueue.id);
    expect(rows.map((r) => [r.contentId, r.status])).toEqual([
      ["a", "pending"],
      ["b", "failed"],
      ["c", "pending"],
    ]);
    expect(rows[0]).toMatchObject({ source: "retry", attempts: 0, retryRounds: 1 });
  });

  it("runs as a signed scheduled call and records its run", async () => {
    await stack.trigger("retry-failed");
    const [run] = await waitFor(
      () =>
        stack.connection.db
          .select()
          .from(jobRuns)
          .where(and(eq(jobRuns.job, "retry-failed")))
          .then((r) => r.length && r),
      3000,
    );
    expect(run!.ok).toBe(true);
  });
});
