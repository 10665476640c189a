// Search follows the rows as they are: children leave with a deleted parent (through the queue, and
// through maintenance when no trigger saw it), a hidden row comes back without paying for its
// embeddings again, and rows written past the triggers are found and queued by maintenance.
import { and, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../functions/config";
import { recordRun } from "../functions/db/job-runs";
import type { Deps } from "../functions/deps";
import { drain } from "../functions/drain";
import { localEmbedder } from "../functions/embedders/local";
import { maintain } from "../functions/maintenance";
import {
  communityComment,
  communityPost,
  course,
  courseLesson,
  embeddingQueue,
  embeddings,
  hiddenEmbeddings,
  jobRuns,
  profiles,
  users,
} from "../schema";
import { BACKGROUND_PRIORITY, createRegistry, defaultRegistry } from "../schema/registry";
import type { Connection } from "../scripts/lib/database";
import { FakeClock } from "../testing/fake-clock";
import { type FakeOpenAI, fakeServerEmbedder, startFakeOpenAI } from "../testing/fake-openai";
import { freshDatabase } from "./support/database";

let connection: Connection;
let api: FakeOpenAI;
beforeAll(async () => {
  [connection, api] = await Promise.all([freshDatabase(), startFakeOpenAI()]);
});
afterAll(async () => {
  await Promise.all([connection.close(), api.close()]);
});
beforeEach(async () => {
  await connection.db.delete(embeddingQueue);
  await connection.db.delete(embeddings);
  await connection.db.delete(hiddenEmbeddings);
});

const deps = (embedder: Deps["embedder"] = localEmbedder(1536)): Deps => ({
  db: connection.db,
  config: loadConfig({}),
  registry: createRegistry(),
  embedder,
});
const chunksOf = (contentType: string, id: string) =>
  connection.db.$count(embeddings, and(eq(embeddings.contentType, contentType), eq(embeddings.contentId, id)));
const pending = async () =>
  (await connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.status, "pending"))).map(
    (row) => [row.contentType, row.contentId, row.priority] as const,
  );
/** Drains until nothing is pending (a few runs at most). */
const drainAll = async (d: Deps = deps()) => {
  for (let i = 0; i < 10 && (await connection.db.$count(embeddingQueue, eq(embeddingQueue.status, "pending"))) > 0; i++) {
    await drain(d, { budgetMs: 10_000 });
  }
};
const priorityOf = (type: string) => defaultRegistry.find((e) => e.type === type)!.priority;

describe("children leave search with their parent", () => {
  it("deleting a post queues its comments at the post's priority, and deleting a user queues the user's profiles; the drain takes them out", async () => {
    const [post, otherPost] = await connection.db
      .insert(communityPost)
      .values([{ title: "Doomed post" }, { title: "Kept post" }])
      .returning();
    const [user] = await connection.db.insert(users).values({ email: "gone@example.com", fullName: "Gone User" }).returning();
    const comments = await connection.db
      .insert(communityComment)
      .values([
        { postId: post!.id, body: "A comment on the doomed post" },
        { postId: otherPost!.id, body: "A comment on the kept post" },
        { postId: null, body: "A comment under no post" },
      ])
      .returning();
    const [profile, standalone] = await connection.db
      .insert(profiles)
      .values([
        { userId: user!.id, username: "gone_user", headline: "Leaves with the user" },
        { userId: null, username: "no_user", headline: "Has no user" },
      ])
      .returning();
    await drainAll();
    expect(await Promise.all(comments.map((c) => chunksOf("comment", c.id)))).toEqual([1, 1, 1]);
    expect([await chunksOf("profile", profile!.id), await chunksOf("profile", standalone!.id)]).toEqual([1, 1]);

    await connection.db.delete(communityPost).where(eq(communityPost.id, post!.id));
    await connection.db.delete(users).where(eq(users.id, user!.id));
    expect((await pending()).filter(([type]) => type !== "post" && type !== "auth_user")).toEqual(
      expect.arrayContaining([
        ["comment", comments[0]!.id, priorityOf("post")],
        ["profile", profile!.id, priorityOf("auth_user")],
      ]),
    );
    await drainAll();
    expect(await Promise.all(comments.map((c) => chunksOf("comment", c.id)))).toEqual([0, 1, 1]);
    expect([await chunksOf("profile", profile!.id), await chunksOf("profile", standalone!.id)]).toEqual([0, 1]);
  });

  it("maintenance removes the chunks of comments and profiles whose parent went past the triggers", async () => {
    const [post] = await connection.db.insert(communityPost).values({ title: "Restored away" }).returning();
    const [user] = await connection.db.insert(users).values({ email: "replica@example.com" }).returning();
    const [comment] = await connection.db
      .insert(communityComment)
      .values({ postId: post!.id, body: "Orphaned by a replica session" })
      .returning();
    const [profile] = await connection.db.insert(profiles).values({ userId: user!.id, username: "orphaned_profile" }).returning();
    await drainAll();
    expect([await chunksOf("comment", comment!.id), await chunksOf("profile", profile!.id)]).toEqual([1, 1]);
    await connection.db.transaction(async (tx) => {
      await tx.execute(sql`SET LOCAL session_replication_role = replica`);
      await tx.delete(communityPost).where(eq(communityPost.id, post!.id));
      await tx.delete(users).where(eq(users.id, user!.id));
    });
    expect(await pending()).toEqual([]);
    await maintain(deps());
    expect([await chunksOf("comment", comment!.id), await chunksOf("profile", profile!.id)]).toEqual([0, 0]);
  });
});

describe("hiding and showing pays for no embedding of unchanged text", () => {
  const inputs = () => api.requests.reduce((sum, r) => sum + r.inputs, 0);

  it("unpublishing and publishing a course takes it and its lessons out of search and back with no embedding call; only text edited while hidden is embedded", async () => {
    const openai = deps(fakeServerEmbedder(api));
    const [c] = await connection.db
      .insert(course)
      .values({ title: "Hidden and shown", description: "A course that comes and goes" })
      .returning();
    const lessons = await connection.db
      .insert(courseLesson)
      .values([1, 2, 3].map((n) => ({ courseId: c!.id, title: `Lesson ${n}`, content: `What lesson ${n} teaches` })))
      .returning();
    const ids = [c!.id, ...lessons.map((l) => l.id)];
    const chunks = () => Promise.all([chunksOf("course", c!.id), ...lessons.map((l) => chunksOf("lesson", l.id))]);
    await drainAll(openai);
    expect(await chunks()).toEqual([1, 1, 1, 1]);
    const before = inputs();
    expect(before).toBeGreaterThanOrEqual(4);

    for (let round = 0; round < 2; round++) {
      await connection.db.update(course).set({ published: false }).where(eq(course.id, c!.id));
      await drainAll(openai);
      expect(await chunks()).toEqual([0, 0, 0, 0]);
      await connection.db.update(course).set({ published: true }).where(eq(course.id, c!.id));
      await drainAll(openai);
      expect(await chunks()).toEqual([1, 1, 1, 1]);
    }
    expect(inputs()).toBe(before);
    expect(await connection.db.$count(hiddenEmbeddings)).toBe(0);

    // Edited while hidden: the old text's vector is not kept, and showing it embeds that lesson alone.
    await connection.db.update(course).set({ published: false }).where(eq(course.id, c!.id));
    await drainAll(openai);
    expect(await connection.db.$count(hiddenEmbeddings)).toBe(4);
    await connection.db.update(courseLesson).set({ content: "New text, written while hidden" }).where(eq(courseLesson.id, lessons[0]!.id));
    await drainAll(openai);
    expect(await connection.db.$count(hiddenEmbeddings, eq(hiddenEmbeddings.contentId, lessons[0]!.id))).toBe(0);
    await connection.db.update(course).set({ published: true }).where(eq(course.id, c!.id));
    await drainAll(openai);
    expect(await chunks()).toEqual([1, 1, 1, 1]);
    expect(inputs()).toBe(before + 1);
    const [edited] = await connection.db.select().from(embeddings).where(eq(embeddings.contentId, lessons[0]!.id));
    expect(edited!.chunkText).toMatch(/New text, written while hidden/);

    // Deleted while hidden: nothing of it is kept.
    await connection.db.update(course).set({ published: false }).where(eq(course.id, c!.id));
    await drainAll(openai);
    await connection.db.delete(course).where(eq(course.id, c!.id));
    await drainAll(openai);
    expect(await connection.db.$count(hiddenEmbeddings)).toBe(0);
    expect(await Promise.all(ids.map((id) => connection.db.$count(embeddings, eq(embeddings.contentId, id))))).toEqual([0, 0, 0, 0]);
  });
});

describe("maintenance finds rows written past the triggers", () => {
  /** Writes as a replica session, pg_restore or COPY with triggers off do: no trigger fires. */
  const pastTheTriggers = (write: (tx: Connection["db"]) => Promise<unknown>) =>
    connection.db.transaction(async (tx) => {
      await tx.execute(sql`SET LOCAL session_replication_role = replica`);
      await write(tx as unknown as Connection["db"]);
    });
  beforeEach(async () => {
    await pastTheTriggers(async (tx) => {
      for (const table of [communityComment, communityPost, courseLesson, course, profiles, users]) await tx.delete(table);
    });
    await connection.db.delete(jobRuns);
  });
  const maintenance = (d: Deps, driftRows?: number) => recordRun(connection.db, "maintenance", () => maintain(d, { driftRows }));

  it("queues at backfill priority each searchable row whose text no longer matches its embeddings, or that has none; nothing else", async () => {
    const [kept, edited] = await connection.db
      .insert(communityPost)
      .values([{ title: "Untouched post" }, { title: "Edited past the triggers" }])
      .returning();
    const [failing] = await connection.db.insert(communityPost).values({ title: "Fails for good" }).returning();
    await drainAll();
    await connection.db
      .insert(embeddingQueue)
      .values({ contentType: "post", contentId: failing!.id, status: "failed", lastError: "refused" });
    await connection.db.delete(embeddings).where(eq(embeddings.contentId, failing!.id));
    let inserted = "";
    await pastTheTriggers(async (tx) => {
      await tx.update(communityPost).set({ body: "A body no trigger saw" }).where(eq(communityPost.id, edited!.id));
      inserted = (await tx.insert(communityPost).values({ title: "Restored from a dump" }).returning())[0]!.id;
      await tx.insert(course).values({ title: "A draft nobody may find", published: false });
    });
    expect(await pending()).toEqual([]);

    const summary = await maintain(deps());
    // Four searchable posts checked; the draft course is not searchable, so not checked.
    expect(summary).toMatchObject({ driftRowsChecked: 4, driftedRowsQueued: 2, driftCursor: null });
    const queued = await connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.status, "pending"));
    expect(queued.map((r) => [r.contentId, r.priority, r.source]).sort()).toEqual(
      [
        [edited!.id, BACKGROUND_PRIORITY, "backfill"],
        [inserted, BACKGROUND_PRIORITY, "backfill"],
      ].sort(),
    );
    await drainAll();
    const [stored] = await connection.db.select().from(embeddings).where(eq(embeddings.contentId, edited!.id));
    expect(stored!.chunkText).toMatch(/A body no trigger saw/);
    expect(await chunksOf("post", inserted)).toBe(1);
    expect(await chunksOf("post", kept!.id)).toBe(1);
    // Converged: the next sweep finds nothing.
    expect((await maintain(deps())).driftedRowsQueued).toBe(0);
  });

  it("checks a bounded slice per run and goes on where the last run stopped, until every row is checked once", async () => {
    await pastTheTriggers((tx) =>
      tx.insert(communityComment).values(Array.from({ length: 7 }, (_, i) => ({ body: `Copied in without triggers ${i}` }))),
    );
    await pastTheTriggers((tx) => tx.insert(communityPost).values([{ title: "Copied post one" }, { title: "Copied post two" }]));
    const runs = [];
    for (let i = 0; i < 4; i++) runs.push(await maintenance(deps(), 3));
    expect(runs.map((r) => r.driftRowsChecked)).toEqual([3, 3, 3, 0]);
    // A full last slice cannot know it was the last: the run after it finds the end.
    expect(runs.map((r) => r.driftCursor === null)).toEqual([false, false, false, true]);
    const queued = await pending();
    expect(queued).toHaveLength(9);
    expect(new Set(queued.map(([, id]) => id)).size).toBe(9);
    expect(queued.every(([, , priority]) => priority === BACKGROUND_PRIORITY)).toBe(true);
  });

  it("stops its sweep when its time is spent, and says where the next run goes on", async () => {
    await pastTheTriggers((tx) => tx.insert(communityPost).values({ title: "Found by the next run" }));
    // Each reading of this clock is 15 s later: the sweep's 20 s are spent after its first batch.
    const clock = new FakeClock();
    clock.now = () => (clock.time += 15_000);
    const first = await maintenance({ ...deps(), clock });
    expect(first.driftCursor).not.toBeNull();
    expect(first.driftedRowsQueued).toBe(0);
    let next = first;
    for (let i = 0; i < 10 && next.driftCursor !== null; i++) next = await maintenance({ ...deps(), clock });
    expect(next.driftCursor).toBeNull();
    expect((await pending()).map(([type]) => type)).toEqual(["post"]);
  });
});
