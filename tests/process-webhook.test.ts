import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createFunctionApp } from "../functions/app";
import { loadConfig } from "../functions/config";
import type { Deps } from "../functions/deps";
import { communityComment, communityPost, embeddingQueue, embeddings } from "../schema";
import { createRegistry } from "../schema/registry";
import type { Connection } from "../scripts/lib/database";
import { freshDatabase } from "./support/database";
import { fakeServerEmbedder, startFakeOpenAI, type FakeOpenAI } from "../testing/fake-openai";
import { qstashToken } from "../testing/qstash-token";

const SITE = "https://embeddings.example.com";
const URL_OF = (path: string) => `${SITE}/api/embeddings/${path}`;
const keys = { current: "sig_current_key", next: "sig_next_key" };
let connection: Connection;
let api: FakeOpenAI;
let app: ReturnType<typeof createFunctionApp>;
let postId: string;

beforeAll(async () => {
  [connection, api] = await Promise.all([freshDatabase(), startFakeOpenAI()]);
  const config = loadConfig({ SITE_URL: SITE, QSTASH_CURRENT_SIGNING_KEY: keys.current, QSTASH_NEXT_SIGNING_KEY: keys.next });
  const deps: Deps = {
    db: connection.db,
    config,
    registry: createRegistry(),
    embedder: fakeServerEmbedder(api),
  };
  app = createFunctionApp("process-webhook", deps);
  const [post] = await connection.db.insert(communityPost).values({ title: "Signed delivery" }).returning();
  postId = post!.id;
});
afterAll(async () => {
  await Promise.all([connection.close(), api.close()]);
});
beforeEach(async () => {
  api.alwaysFail = undefined;
  api.requests.length = 0;
  await connection.db.delete(embeddings);
  await connection.db.delete(embeddingQueue);
});

async function deliver(path: string, body: string, signature?: string | null, requestUrl = URL_OF(path)) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (signature !== null) headers["upstash-signature"] = signature ?? (await qstashToken(keys.current, URL_OF(path), body));
  // The function may see another host (a proxy); it verifies against SITE_URL + path.
  return app.request(requestUrl.replace(SITE, "http://internal:3000"), { method: "POST", headers, body });
}

describe("process-webhook", () => {
  it("embeds the items of a signed delivery and answers with counts", async () => {
    const body = JSON.stringify({ items: [{ contentType: "post", contentId: postId }] });
    const response = await deliver("process-webhook", body);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ items: 1, embedded: 1, unchanged: 0, deleted: 0, superseded: 0, failed: 0 });
    expect(await connection.db.$count(embeddings, eq(embeddings.contentId, postId))).toBe(1);
  });

  it("answers a doorbell by claiming and processing only its lane's pending rows", async () => {
    const [post] = await connection.db.insert(communityPost).values({ title: "Rung by the queued lane" }).returning();
    const [comment] = await connection.db.insert(communityComment).values({ body: "Waits for its own lane" }).returning();
    // The triggers' outbox rows: one pending row for each.
    expect(await connection.db.$count(embeddingQueue, eq(embeddingQueue.status, "pending"))).toBe(2);
    const response = await deliver("process-webhook", JSON.stringify({ doorbell: "queued" }));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ claimed: 1, done: 1, remaining: 0, stoppedBy: "empty" });
    const rows = await connection.db.select({ contentId: embeddingQueue.contentId, status: embeddingQueue.status }).from(embeddingQueue);
    expect(rows.sort((a, b) => a.status.localeCompare(b.status))).toEqual([
      { contentId: post!.id, status: "done" },
      { contentId: comment!.id, status: "pending" },
    ]);
    expect(await connection.db.$count(embeddings, eq(embeddings.contentId, post!.id))).toBe(1);
    expect(await connection.db.$count(embeddings, eq(embeddings.contentId, comment!.id))).toBe(0);
    // A failure callback for a doorbell records nothing: the rows are still queued.
    const callback = JSON.stringify({
      status: 500,
      retried: 3,
      sourceBody: Buffer.from(JSON.stringify({ doorbell: "database" })).toString("base64"),
    });
    expect(await (await deliver("process-webhook/failed", callback)).json()).toEqual({ recorded: 0 });
    expect(await connection.db.$count(embeddingQueue, eq(embeddingQueue.status, "pending"))).toBe(1);
    expect((await deliver("process-webhook", JSON.stringify({ doorbell: "everything" }))).status).toBe(489);
  });

  it("accepts the next signing key (key rotation)", async () => {
    const body = JSON.stringify({ contentType: "post", contentId: postId });
    const response = await deliver("process-webhook", body, await qstashToken(keys.next, URL_OF("process-webhook"), body));
    expect(response.status).toBe(200);
  });

  const now = Math.floor(Date.now() / 1000);
  const body = JSON.stringify({ contentType: "post", contentId: "00000000-0000-0000-0000-000000000000" });
  const refused: [string, () => Promise<string | null>, string?][] = [
    ["a missing signature", async () => null],
    ["a forged signature (wrong key)", () => qstashToken("sig_someone_else", URL_OF("process-webhook"), body)],
    ["a tampered body", () => qstashToken(keys.current, URL_OF("process-webhook"), body.replace("post", "course"))],
    ["a different url", () => qstashToken(keys.current, URL_OF("drain"), body)],
    [
      "an expired token",
      () => qstashToken(keys.current, URL_OF("process-webhook"), body, { exp: now - 60, iat: now - 400, nbf: now - 400 }),
    ],
    ["a token not yet valid", () => qstashToken(keys.current, URL_OF("process-webhook"), body, { nbf: now + 120 })],
    ["another issuer", () => qstashToken(keys.current, URL_OF("process-webhook"), body, { iss: "Someone" })],
    ["garbage", async () => "not.a.jwt"],
  ];
  it.each(refused)("refuses %s with 401 and processes nothing", async (_name, token) => {
    await connection.db.insert(embeddingQueue).values({ contentType: "post", contentId: postId });
    const response = await deliver("process-webhook", body, await token());
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toMatch(/Upstash-Signature/);
    expect(api.requests).toHaveLength(0);
    expect(await connection.db.$count(embeddingQueue)).toBe(1);
  });

  it("answers a signed body of the wrong shape with 489 and Upstash-NonRetryable-Error, naming what is wrong", async () => {
    const wrong = JSON.stringify({ items: [{ contentType: "post", contentId: 1.5 }] });
    const response = await deliver("process-webhook", wrong);
    expect(response.status).toBe(489);
    expect(response.headers.get("upstash-nonretryable-error")).toBe("true");
    expect(((await response.json()) as { error: string }).error).toMatch(/contentId|must be/);
    // QStash's failure callback for a 489 records nothing: what could be recorded was, when it was answered.
    const callback = JSON.stringify({
      status: 489,
      retried: 0,
      sourceBody: Buffer.from(wrong).toString("base64"),
      body: Buffer.from("x").toString("base64"),
    });
    expect(await (await deliver("process-webhook/failed", callback)).json()).toEqual({ recorded: 0 });
  });

  it("answers 503 on a transient failure so QStash retries, and writes nothing", async () => {
    api.alwaysFail = { status: 500, headers: { "retry-after-ms": "1" } };
    const body = JSON.stringify({ contentType: "post", contentId: postId });
    const response = await deliver("process-webhook", body);
    expect(response.status).toBe(503);
    expect(await connection.db.$count(embeddings)).toBe(0);
  });

  it("tells QStash the cause of an unexpected error, the Postgres code and message, never the query", async () => {
    await connection.db.execute(sql`ALTER TABLE community_post RENAME TO community_post_away`);
    try {
      const body = JSON.stringify({ contentType: "post", contentId: postId });
      const response = await deliver("process-webhook", body);
      expect(response.status).toBe(503);
      const answer = (await response.json()) as { error: string; cause: string };
      expect(answer.cause).toMatch(/relation "community_post" does not exist \(Postgres 42P01\)/);
      expect(answer.cause).not.toMatch(/select|params/i);
    } finally {
      await connection.db.execute(sql`ALTER TABLE community_post_away RENAME TO community_post`);
    }
  });

  it("records a permanent failure as failed and answers 200 so QStash stops", async () => {
    api.alwaysFail = { status: 400 };
    const body = JSON.stringify({ contentType: "post", contentId: postId });
    const response = await deliver("process-webhook", body);
    expect(response.status).toBe(200);
    const [row] = await connection.db.select().from(embeddingQueue);
    expect(row).toMatchObject({ contentType: "post", contentId: postId, status: "failed" });
    expect(row!.lastError).toMatch(/400/);
    // A later success clears the failure.
    api.alwaysFail = undefined;
    await deliver("process-webhook", body);
    const [after] = await connection.db.select().from(embeddingQueue);
    expect(after!.status).toBe("done");
  });

  it.each([
    [
      "QStash's failure callback as a failed item",
      { status: 502, retried: 3, maxRetries: 3, sourceMessageId: "msg_1", body: "bad gateway" },
      "QStash gave up after 3 retries; last answer 502: bad gateway",
    ],
    [
      "a failure callback whose answer holds a NUL",
      { status: 500, retried: 3, body: "crash\u0000dump" },
      "QStash gave up after 3 retries; last answer 500: crash\uFFFDdump",
    ],
  ] as const)("records %s", async (_what, answer, lastError) => {
    await connection.db.delete(embeddingQueue);
    const source = JSON.stringify({ contentType: "post", contentId: postId });
    const callback = JSON.stringify({
      ...answer,
      body: Buffer.from(answer.body).toString("base64"),
      sourceBody: Buffer.from(source).toString("base64"),
    });
    const response = await deliver("process-webhook/failed", callback);
    expect(response.status).toBe(200);
    const [row] = await connection.db.select().from(embeddingQueue);
    expect(row).toMatchObject({ status: "failed", contentId: postId, lastError });
  });

  it("refuses an unsigned failure callback", async () => {
    const response = await deliver("process-webhook/failed", "{}", null);
    expect(response.status).toBe(401);
  });
});
