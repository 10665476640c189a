import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type ProcessDeps, processItems, STORE_GROUP } from "../functions/core/process";
import { type EmbeddingWriter, upsertChunks } from "../functions/core/store";
import { withBudget } from "../functions/embedders/embedder";
import { embedLocally } from "../functions/embedders/local";
import { openaiEmbedder } from "../functions/embedders/openai";
import { Budget } from "../functions/lib/budget";
import { OutOfTimeError, TransientError } from "../functions/lib/errors";
import { pendingVersions, resolveSettled } from "../functions/queue";
import { communityComment, communityPost, course, courseLesson, embeddingQueue, embeddings } from "../schema";
import { createRegistry } from "../schema/registry";
import type { Connection } from "../scripts/lib/database";
import { type FakeOpenAI, fakeServerEmbedder, startFakeOpenAI } from "../testing/fake-openai";
import { freshDatabase } from "./support/database";

let connection: Connection;
let api: FakeOpenAI;
let deps: ProcessDeps;
const registry = createRegistry();

beforeAll(async () => {
  [connection, api] = await Promise.all([freshDatabase(), startFakeOpenAI()]);
  deps = {
    db: connection.db,
    registry,
    embedder: fakeServerEmbedder(api, { maxRetries: 2 }),
  };
});
afterAll(async () => {
  await Promise.all([connection.close(), api.close()]);
});
beforeEach(() => {
  api.received = 0;
  api.requests.length = 0;
  api.faults.length = 0;
  api.alwaysFail = undefined;
});

const paragraph = (topic: string, n: number) =>
  Array.from({ length: n }, (_, i) => `Paragraph ${i} explains ${topic} in depth, step ${i}, with worked examples and exercises.`).join(
    " ",
  );

const stored = (contentId: string) =>
  connection.db.select().from(embeddings).where(eq(embeddings.contentId, contentId)).orderBy(asc(embeddings.chunkIndex));

async function nearest(text: string) {
  const vector = JSON.stringify(embedLocally(text, 1536));
  const rows = await connection.db.execute(sql`select content_id from embeddings order by embedding <=> ${vector}::vector limit 1`);
  return (rows as unknown as { rows: { content_id: string }[] }).rows[0]?.content_id;
}

describe("the processing core", () => {
  it("embeds a course, a post and a long lesson into correct rows that search finds", async () => {
    const [c] = await connection.db
      .insert(course)
      .values({ title: "Photosynthesis basics", category: "Biology", tags: ["plants"] })
      .returning();
    const [p] = await connection.db
      .insert(communityPost)
      .values({ title: "Best sourdough starter", body: "Flour, water and patience." })
      .returning();
    const [l] = await connection.db
      .insert(courseLesson)
      .values({ courseId: c!.id, title: "Volcanoes", content: paragraph("magma chambers", 120) })
      .returning();
    const result = await processItems(deps, [
      { contentType: "course", contentId: c!.id },
      { contentType: "post", contentId: p!.id },
      { contentType: "lesson", contentId: l!.id },
    ]);
    const lessonRows = await stored(l!.id);
    expect(lessonRows.length).toBeGreaterThan(2);
    expect(result).toMatchObject({ items: 3, embedded: lessonRows.length + 2, unchanged: 0, deleted: 0, failed: [] });
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]).toMatchObject({ inputs: lessonRows.length + 2, dimensions: 1536, model: "text-embedding-3-small" });

    const [courseRow] = await stored(c!.id);
    expect(courseRow).toMatchObject({ contentType: "course", chunkIndex: 0, model: "text-embedding-3-small", dimensions: 1536 });
    expect(courseRow!.chunkText).toContain("Photosynthesis basics");
    expect(courseRow!.chunkText).toContain("Tags: plants");
    // The SDK decoded the base64 answer: the stored vector is the one the server computed.
    expect(courseRow!.embedding[0]).toBeCloseTo(embedLocally(courseRow!.chunkText, 1536)[0]!, 5);
    expect(lessonRows.map((r) => r.chunkIndex)).toEqual(lessonRows.map((_, i) => i));
    // Chunks overlap: each starts with words the previous one ended with.
    const firstWords = lessonRows[1]!.chunkText.split(" ").slice(0, 3).join(" ");
    expect(lessonRows[0]!.chunkText).toContain(firstWords);

    expect(await nearest("sourdough starter flour")).toBe(p!.id);
    expect(await nearest("photosynthesis plants biology")).toBe(c!.id);
    expect(await nearest("magma chambers worked examples")).toBe(l!.id);
  });

  it("makes no request for unchanged rows and re-embeds only what changed", async () => {
    const [p] = await connection.db.insert(communityPost).values({ title: "Unchanged", body: "Same text." }).returning();
    const [c] = await connection.db.insert(course).values({ title: "Geography" }).returning();
    const [l] = await connection.db
      .insert(courseLesson)
      .values({ courseId: c!.id, title: "Rivers", content: paragraph("river deltas", 120) })
      .returning();
    const items = [
      { contentType: "post", contentId: p!.id },
      { contentType: "lesson", contentId: l!.id },
    ];
    await processItems(deps, items);
    const before = await stored(l!.id);
    api.requests.length = 0;

    const again = await processItems(deps, items);
    expect(api.requests).toHaveLength(0);
    expect(again).toMatchObject({ embedded: 0, unchanged: before.length + 1 });

    // Change the lesson's last sentence: only its last chunk is re-embedded.
    await connection.db
      .update(courseLesson)
      .set({ content: `${paragraph("river deltas", 120)} A final new remark.` })
      .where(eq(courseLesson.id, l!.id));
    const edited = await processItems(deps, items);
    expect(edited.embedded).toBe(1);
    expect(api.requests).toEqual([expect.objectContaining({ inputs: 1 })]);
    const after = await stored(l!.id);
    expect(after.at(-1)!.chunkText).toContain("A final new remark.");
    expect(after[0]!.updatedAt).toEqual(before[0]!.updatedAt);

    // Shrink the lesson: its surplus chunks are deleted.
    await connection.db.update(courseLesson).set({ content: "Now short." }).where(eq(courseLesson.id, l!.id));
    await processItems(deps, items);
    expect((await stored(l!.id)).map((r) => r.chunkText)).toEqual(["Rivers\n\nNow short."]);
  });

  it("re-embeds when the model changes, without dropping anything first", async () => {
    const [p] = await connection.db.insert(communityPost).values({ title: "Model switch" }).returning();
    const item = { contentType: "post", contentId: p!.id };
    await processItems(deps, [item]);
    const other = {
      ...deps,
      embedder: openaiEmbedder({ apiKey: "test-openai-key", baseURL: api.url, model: "text-embedding-3-large", dimensions: 1536 }),
    };
    api.requests.length = 0;
    expect((await processItems(other, [item])).embedded).toBe(1);
    expect((await stored(p!.id))[0]!.model).toBe("text-embedding-3-large");
  });

  it("waits out a 429 with retry-after and succeeds", async () => {
    const [p] = await connection.db.insert(communityPost).values({ title: "Rate limited" }).returning();
    api.faults.push({ status: 429, headers: { "retry-after-ms": "300" } });
    const started = Date.now();
    const result = await processItems(deps, [{ contentType: "post", contentId: p!.id }]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(result.embedded).toBe(1);
    expect(await stored(p!.id)).toHaveLength(1);
  });

  it("ends a 500 storm in a TransientError and stores nothing partial", async () => {
    const [p] = await connection.db.insert(communityPost).values({ title: "Storm" }).returning();
    api.alwaysFail = { status: 500, headers: { "retry-after-ms": "10" } };
    await expect(processItems(deps, [{ contentType: "post", contentId: p!.id }])).rejects.toBeInstanceOf(TransientError);
    expect(await stored(p!.id)).toHaveLength(0);
    api.alwaysFail = undefined;
    expect((await processItems(deps, [{ contentType: "post", contentId: p!.id }])).embedded).toBe(1);
  });

  it("deletes the embeddings of deleted and filtered-out rows", async () => {
    const [p] = await connection.db.insert(communityPost).values({ title: "Soon gone" }).returning();
    const [c] = await connection.db.insert(course).values({ title: "Soon a draft" }).returning();
    const items = [
      { contentType: "post", contentId: p!.id },
      { contentType: "course", contentId: c!.id },
    ];
    await processItems(deps, items);
    await connection.db.delete(communityPost).where(eq(communityPost.id, p!.id));
    await connection.db.update(course).set({ published: false }).where(eq(course.id, c!.id));
    const result = await processItems(deps, items);
    expect(result.deleted).toBe(2);
    expect(await stored(p!.id)).toHaveLength(0);
    expect(await stored(c!.id)).toHaveLength(0);
  });

  it.each([
    ["refuses every request (400)", 400],
    ["is down (500)", 500],
  ] as const)("removes deleted and hidden rows while the embedding API %s", async (_name, status) => {
    const [gone] = await connection.db.insert(communityPost).values({ title: "Deleted while the API fails" }).returning();
    const [draft] = await connection.db.insert(course).values({ title: "Unpublished while the API fails" }).returning();
    const [fresh] = await connection.db.insert(communityPost).values({ title: "New while the API fails" }).returning();
    const items = [
      { contentType: "post", contentId: gone!.id },
      { contentType: "course", contentId: draft!.id },
      { contentType: "post", contentId: fresh!.id },
    ];
    await processItems(deps, items.slice(0, 2));
    await connection.db.delete(communityPost).where(eq(communityPost.id, gone!.id));
    await connection.db.update(course).set({ published: false }).where(eq(course.id, draft!.id));
    api.alwaysFail = { status, headers: { "retry-after-ms": "10" } };
    const outcome = await processItems(deps, items).catch((error: unknown) => error);
    if (status === 400) {
      // Only the row being embedded failed; the removals went through.
      expect(outcome).toMatchObject({
        deleted: 2,
        embedded: 0,
        failed: [expect.objectContaining({ contentId: fresh!.id, error: expect.stringMatching(/400/) })],
      });
    } else {
      expect(outcome).toBeInstanceOf(TransientError);
    }
    expect(await stored(gone!.id)).toHaveLength(0);
    expect(await stored(draft!.id)).toHaveLength(0);
    expect(await stored(fresh!.id)).toHaveLength(0);
  });

  it("converges whatever the order and number of deliveries", async () => {
    const [p] = await connection.db.insert(communityPost).values({ title: "First title" }).returning();
    const item = { contentType: "post", contentId: p!.id };
    await connection.db.update(communityPost).set({ title: "Second title" }).where(eq(communityPost.id, p!.id));
    // The delivery for the first edit arrives late, twice, in one message and in two.
    await processItems(deps, [item, item]);
    await processItems(deps, [{ ...item, contentId: p!.id.toUpperCase() }]);
    const rows = await stored(p!.id);
    expect(rows.map((r) => r.chunkText)).toEqual(["Second title"]);
  });

  it("never lets a slower, older delivery overwrite a newer text", async () => {
    const [p] = await connection.db.insert(communityPost).values({ title: "Old text" }).returning();
    const item = { contentType: "post", contentId: p!.id };
    api.latencyMs = 300;
    const slow = processItems(deps, [item]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await connection.db.update(communityPost).set({ title: "New text" }).where(eq(communityPost.id, p!.id));
    api.latencyMs = 0;
    // The change's own delivery runs and finishes first.
    await processItems(deps, [item]);
    expect(await slow).toMatchObject({ superseded: 1 });
    expect((await stored(p!.id)).map((r) => r.chunkText)).toEqual(["New text"]);
  });

  it("reports unknown types, bad ids and empty text as failed items without failing the rest", async () => {
    const [p] = await connection.db.insert(communityPost).values({ title: "Fine" }).returning();
    const [empty] = await connection.db.insert(communityComment).values({ body: "   " }).returning();
    const result = await processItems(deps, [
      { contentType: "post", contentId: p!.id },
      { contentType: "nope", contentId: "1" },
      { contentType: "post", contentId: "not-a-uuid" },
      { contentType: "comment", contentId: empty!.id },
    ]);
    expect(result.embedded).toBe(1);
    expect(result.failed.map((f) => f.error)).toEqual([
      'unknown content type "nope"',
      "invalid id for post",
      "comment has no text to embed",
    ]);
    const rows = await connection.db
      .select()
      .from(embeddings)
      .where(and(eq(embeddings.contentType, "comment"), eq(embeddings.contentId, empty!.id)));
    expect(rows).toHaveLength(0);
  });
});

describe("the vectors the API answers", () => {
  afterAll(() => {
    api.vectorFor = undefined;
  });

  it("fails only the item whose vector is NaN, beyond float32 or all zeros; the batch's others are stored, nothing retried", async () => {
    const bad: Record<string, number[]> = {
      "Broken overflow": Array.from({ length: 1536 }, (_, i) => (i === 7 ? 1e39 : 0.01)),
      "Broken zeros": new Array(1536).fill(0),
      "Broken nan": Array.from({ length: 1536 }, (_, i) => (i === 3 ? Number.NaN : 0.01)),
    };
    api.vectorFor = (text) => Object.entries(bad).find(([title]) => text.includes(title))?.[1];
    const posts = await connection.db
      .insert(communityPost)
      .values(
        ["Innocent one", "Broken overflow", "Innocent two", "Broken zeros", "Broken nan", "Innocent three"].map((title) => ({ title })),
      )
      .returning();
    // NaN cannot travel as JSON: this model answers base64 float32s, as OpenAI's SDK asks by default.
    const base64 = { ...deps, embedder: fakeServerEmbedder(api, { maxRetries: 2, encoding: "base64" }) };
    const result = await processItems(
      base64,
      posts.map((p) => ({ contentType: "post", contentId: p.id })),
    );
    expect(api.requests).toHaveLength(1);
    const byTitle = new Map(posts.map((p) => [p.id, p.title]));
    expect(result.failed.map((f) => [byTitle.get(f.contentId), f.error])).toEqual([
      ["Broken overflow", "the embedding API returned an unusable vector for chunk 0: a value beyond float32's range"],
      ["Broken zeros", "the embedding API returned an unusable vector for chunk 0: all zeros"],
      ["Broken nan", "the embedding API returned an unusable vector for chunk 0: a value that is not a number"],
    ]);
    expect(result.embedded).toBe(6);
    for (const p of posts) expect((await stored(p.id)).length, p.title!).toBe(p.title!.startsWith("Innocent") ? 1 : 0);
  });
});

describe("what a failure record may say", () => {
  it("leaves out the row's text that an API's refusal echoes", async () => {
    const secret = "A private post about my diagnosis and my home address at 12 Elm Street";
    const [p] = await connection.db.insert(communityPost).values({ title: secret }).returning();
    api.faults.push({ status: 400, echoInput: true });
    const result = await processItems(deps, [{ contentType: "post", contentId: p!.id }]);
    expect(result.failed).toEqual([
      { contentType: "post", contentId: p!.id, error: 'embedding API answered 400: 400 Invalid input: "…" was refused' },
    ]);
  });
});

describe("limits on a row's size and a run's time", () => {
  it("fails a row beyond the size limit with a record saying so, without embedding it; the rest are embedded", async () => {
    const big = "A very long post. ".repeat(60_000); // about 1 MB
    const posts = await connection.db
      .insert(communityPost)
      .values([{ title: "Small post" }, { title: "Huge post", body: big }])
      .returning();
    const limited = { ...deps, config: { process: { maxRowBytes: 500_000 } } };
    const result = await processItems(
      limited,
      posts.map((p) => ({ contentType: "post", contentId: p.id })),
    );
    expect(result.failed).toEqual([
      {
        contentType: "post",
        contentId: posts[1]!.id,
        error: expect.stringMatching(/^post is 1,08\d,\d{3} bytes of text, over the limit of 500,000 a row \(EMBEDDING_MAX_ROW_BYTES\)$/),
      },
    ]);
    expect(api.requests.reduce((n, r) => n + r.inputs, 0)).toBe(1);
    expect(await stored(posts[1]!.id)).toEqual([]);
    expect(await stored(posts[0]!.id)).toHaveLength(1);
  });

  it("keeps to the run's budget while chunking and hashing, not only in the API: out of time, it stops before embedding", async () => {
    const posts = await connection.db
      .insert(communityPost)
      .values(Array.from({ length: 8 }, (_, i) => ({ title: `Budget post ${i}`, body: paragraph(`topic ${i}`, 40) })))
      .returning();
    // A held clock on which every look at it costs 10 s: the run's 50 s pass while it works.
    let now = 0;
    const clock = { now: () => (now += 10_000), sleep: async () => {} };
    const budget = Budget.start(50_000, clock);
    const run = { ...deps, embedder: withBudget(deps.embedder, budget) };
    await expect(
      processItems(
        run,
        posts.map((p) => ({ contentType: "post", contentId: p.id })),
      ),
    ).rejects.toBeInstanceOf(OutOfTimeError);
    expect(api.received).toBe(0);
  });
});

describe("settling the queue after processing", () => {
  const queueRow = async (contentId: string) =>
    (await connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.contentId, contentId)))[0]!;

  it("marks done the outbox row it read before the text, and keeps a change committed later though its timestamp is older", async () => {
    const [p] = await connection.db.insert(communityPost).values({ title: "Before" }).returning();
    const item = { contentType: "post", contentId: p!.id };
    const seen = await pendingVersions(connection.db, [item]);
    expect(seen).toHaveLength(1);

    // A transaction that began before that read commits after it: its trigger's row carries the
    // transaction's start time, older than the read, and the text read did not hold its change.
    await connection.db.update(communityPost).set({ title: "Committed late" }).where(eq(communityPost.id, p!.id));
    await connection.db.execute(sql`UPDATE embedding_queue SET updated_at = now() - interval '1 minute' WHERE content_id = ${p!.id}`);
    await resolveSettled(connection.db, [item], seen);
    expect(await queueRow(p!.id)).toMatchObject({ status: "pending" });

    // Read again and processed: now it is done.
    await processItems(deps, [item]);
    expect(await queueRow(p!.id)).toMatchObject({ status: "done" });
    expect((await stored(p!.id)).map((r) => r.chunkText)).toEqual(["Committed late"]);
  });

  it("writes a large batch a group of items a transaction, each holding few item locks, and loses none", async () => {
    const posts = await connection.db
      .insert(communityPost)
      .values(Array.from({ length: 200 }, (_, i) => ({ title: `Grouped post ${i}`, body: `About topic ${i}` })))
      .returning({ id: communityPost.id });
    const ids = posts.map((p) => p.id);
    // Each write, as it runs inside its transaction: how many of the pipeline's item locks that transaction holds.
    const held: number[] = [];
    const writer: EmbeddingWriter = {
      db: connection.db,
      async write(tx, rows, model, table) {
        const result = await tx.execute(
          sql`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND classid = ${0x71e5}`,
        );
        held.push((result as unknown as { rows: { n: number }[] }).rows[0]!.n);
        await upsertChunks(tx, rows, model, table);
      },
    };
    const result = await processItems(
      { ...deps, writer },
      ids.map((contentId) => ({ contentType: "post", contentId })),
    );
    expect(result).toMatchObject({ items: 200, failed: [], superseded: 0 });
    // In one transaction the 200 items would hold about 180 of the 1,024 locks.
    expect(Math.max(...held)).toBeLessThanOrEqual(STORE_GROUP);
    expect(held.length).toBeGreaterThanOrEqual(200 / STORE_GROUP);
    // Nothing lost: every item stored, every queue row its insert wrote settled.
    expect(
      new Set((await connection.db.select().from(embeddings).where(inArray(embeddings.contentId, ids))).map((r) => r.contentId)).size,
    ).toBe(200);
    const queue = await connection.db.select().from(embeddingQueue).where(inArray(embeddingQueue.contentId, ids));
    expect(queue.filter((row) => row.status !== "done")).toEqual([]);
  });
});
