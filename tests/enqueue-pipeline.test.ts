import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { communityComment, communityPost, course, embeddingQueue, embeddings, laneStates, qstashSpend } from "../schema";
import { startTestStack, type TestStack } from "./support/stack";
import { waitFor } from "./support/wait-for";

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
  // Warm the path once (first connections, first JIT) so the latency check below measures the pipeline.
  const [warm] = await stack.connection.db.insert(course).values({ title: "Warm-up" }).returning();
  await stack.post("enqueue", { contentType: "course", contentId: warm!.id });
  await waitFor(() => stack.embeddedChunks(warm!.id), 5000, "the warm-up course");
});
afterAll(() => stack.close());
beforeEach(async () => {
  const { emulator } = stack.emulator!;
  emulator.faults = {};
  // Each test starts with no doorbell of an earlier one still to come: the batched lane's (minutes away)
  // are cancelled, the others are let ring.
  for (const message of [...emulator.messages.values()]) if (message.notBefore > Date.now() + 5000) emulator.cancel(message.messageId);
  await waitFor(() => emulator.messages.size === 0, 10_000, "the earlier test's doorbells to ring");
  // Every lane idle (no earlier doorbell or run holds one), and today's spend from zero.
  await stack.connection.db.delete(laneStates);
  await stack.connection.db.delete(qstashSpend);
});

/** Publish requests the pipeline booked today (its ledger). */
const published = async () => (await stack.connection.db.select().from(qstashSpend))[0]?.publishRequests ?? 0;

const supabaseInsert = (table: string, record: Record<string, unknown>) => ({
  type: "INSERT",
  table,
  schema: "public",
  record,
  old_record: null,
});

async function searchFor(query: string, types?: string[]) {
  const response = await stack.post("search", { query, types }, { authorization: "Bearer test-search-token" });
  expect(response.status).toBe(200);
  return ((await response.json()) as { results: { contentId: string }[] }).results.map((r) => r.contentId);
}

describe("enqueue → QStash → process-webhook", () => {
  it("makes a course from a Supabase INSERT webhook searchable through the immediate lane", async () => {
    const [row] = await stack.connection.db
      .insert(course)
      .values({ title: "Quantum computing for beginners", category: "Physics" })
      .returning();
    await stack.connection.db.delete(embeddingQueue);
    const response = await stack.post("enqueue", supabaseInsert("course", row!));
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ accepted: 1, items: [{ contentType: "course", contentId: row!.id, lane: "immediate" }] });
    await waitFor(() => stack.embeddedChunks(row!.id), 1000, "the course to be embedded");
    expect((await searchFor("quantum computing"))[0]).toBe(row!.id);
    // The delivery settled the item's queue row: the drain will not embed it again.
    const rows = await waitFor(
      async () => {
        const found = await stack.connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.contentId, row!.id));
        return found.every((r) => r.status === "done") && found;
      },
      3000,
      "the queue row to be settled",
    );
    expect(rows).toHaveLength(1);
  });

  it("sends a post through the queued lane and a comment through the database lane", async () => {
    const [post] = await stack.connection.db.insert(communityPost).values({ title: "Studying with flashcards" }).returning();
    const [comment] = await stack.connection.db.insert(communityComment).values({ body: "Spaced repetition works" }).returning();
    await stack.connection.db.delete(embeddingQueue);
    const response = await stack.post("enqueue", [
      { contentType: "post", contentId: post!.id },
      { contentType: "comment", contentId: comment!.id },
    ]);
    const { items } = (await response.json()) as { items: { lane: string }[] };
    expect(items.map((i) => i.lane)).toEqual(["queued", "database"]);
    // The comment's lane rings at the wall clock's minute end, which a slow run of this test may reach:
    // its doorbell is cancelled here, so that what embeds the comment is the drain, whatever the time.
    const { emulator } = stack.emulator!;
    const batched = [...emulator.messages.values()].filter((m) => JSON.parse(m.body).doorbell === "database");
    expect(batched).toHaveLength(1);
    for (const message of batched) emulator.cancel(message.messageId);
    await waitFor(() => stack.embeddedChunks(post!.id), 4000, "the post to be embedded");
    // The post's safety-net row is settled by its delivery; the comment waits for the drain.
    const queued = await waitFor(
      async () => {
        const pending = await stack.connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.status, "pending"));
        return pending.length === 1 && pending;
      },
      3000,
      "only the comment to be pending",
    );
    expect(queued).toEqual([
      expect.objectContaining({ contentType: "comment", contentId: comment!.id, status: "pending", source: "webhook", priority: 5 }),
    ]);
    expect(await stack.embeddedChunks(comment!.id)).toBe(0);
    await stack.trigger("drain");
    await waitFor(() => stack.embeddedChunks(comment!.id), 3000, "the drain to embed the comment");
    await waitFor(
      async () => (await stack.connection.db.$count(embeddingQueue, eq(embeddingQueue.status, "done"))) === 2,
      3000,
      "both rows done",
    );
  });

  it("coalesces a burst of edits to one row into one delivery of the latest text", async () => {
    const [post] = await stack.connection.db.insert(communityPost).values({ title: "Draft 0" }).returning();
    const before = stack.emulator!.emulator.deliveries.length;
    const publishedBefore = await published();
    for (let i = 1; i <= 5; i++) {
      await stack.connection.db
        .update(communityPost)
        .set({ title: `Draft ${i}` })
        .where(eq(communityPost.id, post!.id));
      await stack.post("enqueue", { contentType: "post", contentId: post!.id });
    }
    await waitFor(
      async () => {
        const [row] = await stack.connection.db.select().from(embeddings).where(eq(embeddings.contentId, post!.id));
        return row?.chunkText === "Draft 5";
      },
      5000,
      "the latest draft to be embedded",
    );
    // A delivery is recorded when its run answers, after it lingered for more rows.
    await waitFor(() => stack.emulator!.emulator.messages.size === 0, 10_000, "the runs to answer");
    const deliveries = stack.emulator!.emulator.deliveries.slice(before).filter((d) => d.url.endsWith("/process-webhook"));
    // The first enqueue rang; the four after it found the lane held (its doorbell, then its run) and
    // published nothing, or, had the run already let the lane go, rang once more.
    expect(deliveries.length).toBeLessThanOrEqual(2);
    expect((await published()) - publishedBefore).toBe(deliveries.length);
  });

  it("publishes nothing for a change whose lane is held, and rings again once a lost doorbell's lease runs out", async () => {
    const posts = await stack.connection.db
      .insert(communityPost)
      .values([{ title: "Held one" }, { title: "Held two" }, { title: "Held three" }])
      .returning();
    const { emulator } = stack.emulator!;
    // The queued lane's doorbell is due at its window's end: lost here, it never comes.
    emulator.faults = { refuseMessage: () => false };
    await stack.post("enqueue", { contentType: "post", contentId: posts[0]!.id });
    expect(await published()).toBe(1);
    for (const message of [...emulator.messages.values()]) emulator.cancel(message.messageId);
    await stack.post("enqueue", { contentType: "post", contentId: posts[1]!.id });
    expect(await published()).toBe(1);
    // The lease runs out (as it would 30 s past the doorbell's time): the next change rings.
    await stack.connection.db.update(laneStates).set({ heldUntil: sql`now() - interval '1 second'` });
    await stack.post("enqueue", { contentType: "post", contentId: posts[2]!.id });
    expect(await published()).toBe(2);
    for (const post of posts) await waitFor(() => stack.embeddedChunks(post.id), 5000, "every post, by the second doorbell's run");
  });

  it("drops an update that changes no watched field", async () => {
    const [post] = await stack.connection.db.insert(communityPost).values({ title: "Same" }).returning();
    const response = await stack.post("enqueue", {
      type: "UPDATE",
      table: "community_post",
      record: { ...post, like_count: 9 },
      old_record: post,
    });
    expect(await response.json()).toMatchObject({ accepted: 0, items: [{ lane: "skipped" }] });
  });

  it("accepts a Hasura event payload", async () => {
    const [c] = await stack.connection.db.insert(communityComment).values({ body: "From Hasura" }).returning();
    const response = await stack.post("enqueue", {
      event: { op: "INSERT", data: { old: null, new: c } },
      table: { schema: "public", name: "community_comment" },
      trigger: { name: "t" },
    });
    expect(await response.json()).toMatchObject({ accepted: 1, items: [{ contentType: "comment", contentId: c!.id, lane: "database" }] });
  });
});

describe("when QStash is down", () => {
  it("lands every item in embedding_queue, loses nothing, and the drain finishes them", async () => {
    await stack.connection.db.delete(embeddingQueue);
    const courses = await stack.connection.db
      .insert(course)
      .values([{ title: "Fallback one" }, { title: "Fallback two" }])
      .returning();
    const [post] = await stack.connection.db.insert(communityPost).values({ title: "Fallback post" }).returning();
    await stack.connection.db.delete(embeddingQueue);
    stack.emulator!.emulator.faults = { refusePublish: true };
    const response = await stack.post("enqueue", [
      ...courses.map((c) => ({ contentType: "course", contentId: c.id })),
      { contentType: "post", contentId: post!.id },
    ]);
    expect(response.status).toBe(202);
    const { items } = (await response.json()) as { items: { lane: string; fallback?: boolean }[] };
    expect(items.every((i) => i.lane === "database" && i.fallback)).toBe(true);
    // Each item's row is its one record, written before any doorbell: due now, for the drain.
    const queued = await stack.connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.status, "pending"));
    expect(queued.map((q) => q.source)).toEqual(["webhook", "webhook", "webhook"]);
    expect(queued.every((q) => q.runAfter.getTime() <= Date.now())).toBe(true);

    stack.emulator!.emulator.faults = {};
    await stack.trigger("drain");
    for (const id of [...courses.map((c) => c.id), post!.id]) await waitFor(() => stack.embeddedChunks(id), 3000, `item ${id}`);
    await waitFor(
      async () => (await stack.connection.db.$count(embeddingQueue, eq(embeddingQueue.status, "done"))) === 3,
      2000,
      "rows done",
    );
  });
});

describe("when QStash refuses some messages of a batch", () => {
  it("rings the other lanes and leaves the refused lane's items to their queue rows, due now", async () => {
    await stack.connection.db.delete(embeddingQueue);
    const [kept] = await stack.connection.db.insert(course).values({ title: "Batch kept" }).returning();
    const [refused] = await stack.connection.db.insert(communityPost).values({ title: "Batch refused" }).returning();
    await stack.connection.db.delete(embeddingQueue);
    stack.emulator!.emulator.faults = { refuseMessage: (m) => m.body.includes('"doorbell":"queued"') };
    const response = await stack.post("enqueue", [
      { contentType: "course", contentId: kept!.id },
      { contentType: "post", contentId: refused!.id },
    ]);
    expect(((await response.json()) as { items: unknown[] }).items).toEqual([
      { contentType: "course", contentId: kept!.id, lane: "immediate" },
      { contentType: "post", contentId: refused!.id, lane: "database", fallback: true },
    ]);
    await waitFor(() => stack.embeddedChunks(kept!.id), 3000, "the course whose doorbell rang");
    const [row] = await stack.connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.contentId, refused!.id));
    expect(row).toMatchObject({ status: "pending" });
    expect(row!.runAfter.getTime()).toBeLessThanOrEqual(Date.now());
    stack.emulator!.emulator.faults = {};
    await stack.trigger("drain");
    await waitFor(() => stack.embeddedChunks(refused!.id), 3000, "the drain to take the post");
  });
});

describe("doorbells", () => {
  it("ring once per lane and window for a burst, and the rung runs embed every item of it", async () => {
    await stack.connection.db.delete(embeddingQueue);
    const courses = await stack.connection.db
      .insert(course)
      .values(Array.from({ length: 150 }, (_, i) => ({ title: `Burst course ${i}` })))
      .returning();
    const posts = await stack.connection.db
      .insert(communityPost)
      .values(Array.from({ length: 150 }, (_, i) => ({ title: `Burst post ${i}` })))
      .returning();
    const [comment] = await stack.connection.db.insert(communityComment).values({ body: "Burst comment" }).returning();
    await stack.connection.db.delete(embeddingQueue);
    const { emulator } = stack.emulator!;
    const before = emulator.deliveries.length;
    const items = [
      ...courses.map((c) => ({ contentType: "course", contentId: c.id })),
      ...posts.map((p) => ({ contentType: "post", contentId: p.id })),
      { contentType: "comment", contentId: comment!.id },
    ];
    // Three requests, as three webhooks would send them: one doorbell per lane, the first request's.
    await Promise.all([items.slice(0, 100), items.slice(100, 200), items.slice(200)].map((part) => stack.post("enqueue", part)));
    expect(await published()).toBe(3);
    // The batched lane's doorbell waits for its window's end (four minutes).
    const batched = [...emulator.messages.values()].filter((m) => m.body.includes('"doorbell":"database"'));
    expect(batched).toHaveLength(1);
    expect(batched[0]!.notBefore % 240_000).toBe(0);
    await waitFor(
      async () => (await stack.connection.db.$count(embeddingQueue, eq(embeddingQueue.status, "done"))) === 300,
      10_000,
      "the courses and posts",
    );
    for (const m of stack.emulator!.emulator.messages.values()) if (m.body.includes('"doorbell":"database"')) emulator.cancel(m.messageId);
    await waitFor(() => emulator.messages.size === 0, 10_000, "the runs to answer");
    const rung = emulator.deliveries.slice(before).filter((d) => d.url.endsWith("/process-webhook"));
    // Immediate at once, queued at its window's end; each run served every row of its lane.
    expect(rung.length).toBe(2);
  });
});

describe("a delivery that always fails", () => {
  it("a doorbell ends in the DLQ and loses nothing: its rows wait for the drain", async () => {
    await stack.connection.db.delete(embeddingQueue);
    const [c] = await stack.connection.db.insert(course).values({ title: "Doorbell lost" }).returning();
    stack.emulator!.emulator.faults = { failDelivery: (m) => m.url.endsWith("/process-webhook") };
    await stack.post("enqueue", { contentType: "course", contentId: c!.id });
    await waitFor(
      async () => (await stack.qstash.dlq.listMessages()).messages.filter((m) => m.body?.includes('"doorbell":"immediate"')).length >= 1,
      5000,
      "the doorbell in the DLQ",
    );
    const [row] = await stack.connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.contentId, c!.id));
    expect(row).toMatchObject({ status: "pending" });
    stack.emulator!.emulator.faults = {};
    await stack.trigger("drain");
    await waitFor(() => stack.embeddedChunks(c!.id), 3000, "the drain to embed it");
  });
});

describe("enqueue refuses bad requests and writes nothing", () => {
  const cases: [string, unknown, Record<string, string> | undefined, number, RegExp][] = [
    ["no secret", { contentType: "post", contentId: "x" }, {}, 401, /WEBHOOK_SECRET/],
    ["a wrong secret", { contentType: "post", contentId: "x" }, { authorization: "Bearer nope" }, 401, /WEBHOOK_SECRET/],
    ["malformed JSON", "{not json", undefined, 400, /not valid JSON/],
    ["the wrong shape", { hello: "world" }, undefined, 400, /contentType/],
    ["an unknown table", { type: "INSERT", table: "invoices", record: { id: 1 } }, undefined, 400, /unknown table "invoices"/],
    ["an unknown content type", { contentType: "invoice", contentId: "1" }, undefined, 400, /unknown content type/],
    ["an id of the wrong type", { contentType: "post", contentId: "not-a-uuid" }, undefined, 400, /invalid id for post/],
  ];
  it.each(cases)("%s", async (_name, body, headers, status, message) => {
    await stack.connection.db.delete(embeddingQueue);
    const response = await stack.post("enqueue", body, headers);
    expect(response.status).toBe(status);
    expect(((await response.json()) as { error: string }).error).toMatch(message);
    expect(await stack.connection.db.$count(embeddingQueue)).toBe(0);
  });

  it("accepts the secret as x-webhook-secret too", async () => {
    const [post] = await stack.connection.db.insert(communityPost).values({ title: "Header secret" }).returning();
    const response = await stack.post(
      "enqueue",
      { contentType: "post", contentId: post!.id },
      { "x-webhook-secret": "test-webhook-secret" },
    );
    expect(response.status).toBe(202);
  });
});
