import { readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as schema from "../schema";
import { captureSql } from "../schema/capture-sql";
import { defaultRegistry } from "../schema/registry";
import { latestCaptureMigration } from "../scripts/lib/capture-migration";
import type { Connection } from "../scripts/lib/database";
import { servePglite } from "../scripts/lib/pg-server";
import { freshDatabase, onRealPostgres, PGLITE_ONLY } from "./support/database";
import { waitFor } from "./support/wait-for";

const { embeddingQueue, course, profiles, users, courseLesson, communityPost, communityComment } = schema;

describe("migrations", () => {
  it("hold the change capture the registry generates (run npm run db:triggers when this fails)", () => {
    const committed = latestCaptureMigration();
    expect(committed, "no *_embedding_triggers migration").toBeDefined();
    expect(readFileSync(committed!, "utf8")).toBe(captureSql(defaultRegistry));
  });
});

describe("change capture", () => {
  let connection: Connection;
  beforeAll(async () => {
    connection = await freshDatabase();
  });
  afterAll(() => connection.close());
  beforeEach(async () => {
    await connection.db.delete(embeddingQueue);
  });
  const pending = () => connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.status, "pending"));

  it("queues a new course once, at its priority, from the trigger", async () => {
    const [row] = await connection.db.insert(course).values({ title: "Intro to SQL" }).returning();
    const queued = await pending();
    expect(queued).toHaveLength(1);
    expect(queued[0]).toMatchObject({ contentType: "course", contentId: row!.id, priority: 2, op: "upsert", source: "trigger" });
  });

  it("ignores a change to an unwatched field and queues a change to a watched one", async () => {
    const [row] = await connection.db.insert(course).values({ title: "Rust" }).returning();
    await connection.db.delete(embeddingQueue);
    await connection.db.update(course).set({ viewCount: 42 }).where(eq(course.id, row!.id));
    expect(await pending()).toHaveLength(0);
    await connection.db
      .update(course)
      .set({ tags: ["systems"] })
      .where(eq(course.id, row!.id));
    expect(await pending()).toHaveLength(1);
  });

  it("watches the filter's fields too: publishing a course queues it", async () => {
    const [row] = await connection.db.insert(course).values({ title: "Draft", published: false }).returning();
    await connection.db.delete(embeddingQueue);
    await connection.db.update(course).set({ published: true }).where(eq(course.id, row!.id));
    expect(await pending()).toHaveLength(1);
  });

  it("coalesces ten edits in a row into one pending row", async () => {
    const [row] = await connection.db.insert(communityPost).values({ title: "v0" }).returning();
    for (let i = 1; i <= 10; i++) {
      await connection.db
        .update(communityPost)
        .set({ title: `v${i}` })
        .where(eq(communityPost.id, row!.id));
    }
    const queued = await pending();
    expect(queued).toHaveLength(1);
    expect(queued[0]!.contentId).toBe(row!.id);
  });

  it("queues a delete, which replaces the pending upsert", async () => {
    const [row] = await connection.db.insert(communityComment).values({ body: "first!" }).returning();
    await connection.db.delete(communityComment).where(eq(communityComment.id, row!.id));
    const queued = await pending();
    expect(queued).toHaveLength(1);
    expect(queued[0]).toMatchObject({ contentType: "comment", op: "delete", priority: 5 });
  });

  it("keeps a new edit pending while an earlier one is being processed", async () => {
    const [row] = await connection.db.insert(courseLesson).values({ title: "Lesson" }).returning();
    await connection.db.update(embeddingQueue).set({ status: "processing" });
    await connection.db.update(courseLesson).set({ content: "new text" }).where(eq(courseLesson.id, row!.id));
    const rows = await connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.contentId, row!.id));
    expect(rows.map((r) => r.status).sort()).toEqual(["pending", "processing"]);
  });

  it("covers each of the six content types with its registry priority", async () => {
    const [user] = await connection.db.insert(users).values({ email: "a@example.com" }).returning();
    const [profile] = await connection.db.insert(profiles).values({ username: "ada" }).returning();
    const [c] = await connection.db.insert(course).values({ title: "C" }).returning();
    const [lesson] = await connection.db.insert(courseLesson).values({ title: "L" }).returning();
    const [post] = await connection.db.insert(communityPost).values({ title: "P" }).returning();
    const [comment] = await connection.db.insert(communityComment).values({ body: "K" }).returning();
    const queued = await connection.db
      .select({ type: embeddingQueue.contentType, id: embeddingQueue.contentId, priority: embeddingQueue.priority })
      .from(embeddingQueue)
      .orderBy(embeddingQueue.id);
    expect(queued).toEqual([
      { type: "auth_user", id: user!.id, priority: 2 },
      { type: "profile", id: profile!.id, priority: 2 },
      { type: "course", id: c!.id, priority: 2 },
      { type: "lesson", id: lesson!.id, priority: 3 },
      { type: "post", id: post!.id, priority: 4 },
      { type: "comment", id: comment!.id, priority: 5 },
    ]);
  });

  it("notifies listeners on the embedding_queue channel", async () => {
    const heard: string[] = [];
    const unlisten = await connection.listen("embedding_queue", (payload) => heard.push(payload));
    const [row] = await connection.db.insert(communityPost).values({ title: "Hello" }).returning();
    await waitFor(() => heard.length > 0, 5000, "the notification");
    await unlisten();
    expect(heard.map((p) => JSON.parse(p))).toEqual([{ contentType: "post", contentId: row!.id, priority: 4, op: "upsert" }]);
  });

  it("rolls the queue row back with the change that made it", async () => {
    await expect(
      connection.db.transaction(async (tx) => {
        await tx.insert(course).values({ title: "Never committed" });
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    const queued = await connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.contentType, "course"));
    expect(queued).toHaveLength(0);
  });
});

describe.skipIf(onRealPostgres)(`the embedded database served on a port ${PGLITE_ONLY}`, () => {
  it("gives a client no notification it did not LISTEN for, while the stack still hears every change", async () => {
    const connection = await freshDatabase();
    const server = await servePglite(connection.pglite!, 0);
    const heard: string[] = [];
    const unlisten = await connection.listen("embedding_queue", (payload) => heard.push(payload));
    const psql = new pg.Client({ connectionString: server.url });
    const listener = new pg.Client({ connectionString: server.url });
    const received = { psql: 0, listener: 0 };
    psql.on("notification", () => received.psql++);
    listener.on("notification", () => received.listener++);
    try {
      await Promise.all([psql.connect(), listener.connect()]);
      await psql.query("INSERT INTO community_post (title) VALUES ('over the wire, unheard')");
      await waitFor(() => heard.length === 1, 5000, "the stack to hear the change");
      expect(received).toEqual({ psql: 0, listener: 0 });
      // Once a client asks for them, they pass again: to the client whose statement raised them, as
      // every client shares PGlite's one session.
      await listener.query("LISTEN embedding_queue");
      await psql.query("INSERT INTO community_post (title) VALUES ('over the wire, heard')");
      await waitFor(() => heard.length === 2, 5000, "the stack to hear the second change");
      expect(received.psql + received.listener).toBeGreaterThan(0);
    } finally {
      await Promise.all([psql.end(), listener.end()]);
      await unlisten();
      await server.stop();
      await connection.close();
    }
  });
});
