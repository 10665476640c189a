import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createFunctionApp } from "../functions/app";
import { loadConfig } from "../functions/config";
import { laneStatesNow } from "../functions/queue";
import { communityComment, communityPost, embeddingQueue, embeddings, laneStates, qstashSpend } from "../schema";
import type { Connection } from "../scripts/lib/database";
import { type FakeOpenAI, fakeServerEmbedder, startFakeOpenAI } from "../testing/fake-openai";
import { qstashToken } from "../testing/qstash-token";
import { freshDatabase } from "./support/database";
import { testDeps } from "./support/deps";

const SITE = "https://embeddings.example.com";
const URL_OF = (path: string) => `${SITE}/api/embeddings/${path}`;
const keys = { current: "sig_current_key", next: "sig_next_key" };
let connection: Connection;
let api: FakeOpenAI;
let app: ReturnType<typeof createFunctionApp>;
let postId: string;

beforeAll(async () => {
  [connection, api] = await Promise.all([freshDatabase(), startFakeOpenAI()]);
  const config = loadConfig({
    SITE_URL: SITE,
    QSTASH_CURRENT_SIGNING_KEY: keys.current,
    QSTASH_NEXT_SIGNING_KEY: keys.next,
    LANE_LINGER_MS: "0",
  });
  app = createFunctionApp("process-webhook", testDeps(connection.db, { config, embedder: fakeServerEmbedder(api) }));
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
  await connection.db.delete(laneStates);
  await connection.db.delete(qstashSpend);
});

async function deliver(path: string, body: string, signature?: string | null, requestUrl = URL_OF(path)) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (signature !== null) headers["upstash-signature"] = signature ?? (await qstashToken(keys.current, URL_OF(path), body));
  // The function may see another host (a proxy); it verifies against SITE_URL + path.
  return app.request(requestUrl.replace(SITE, "http://internal:3000"), { method: "POST", headers, body });
}

describe("process-webhook", () => {
  it("takes doorbells only: an item message is refused for good (489), naming the doorbell", async () => {
    for (const body of [{ contentType: "post", contentId: postId }, { items: [{ contentType: "post", contentId: postId }] }]) {
      const response = await deliver("process-webhook", JSON.stringify(body));
      expect(response.status).toBe(489);
      expect(((await response.json()) as { error: string }).error).toMatch(/doorbell/);
    }
    expect(await connection.db.$count(embeddings)).toBe(0);
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
    // The run let its lane go (nothing left in it), and the ledger booked the delivery.
    expect(await laneStatesNow(connection.db)).toEqual([expect.objectContaining({ lane: "queued", held: false })]);
    expect((await connection.db.select().from(qstashSpend))[0]).toMatchObject({ deliveries: 1, retried: 0 });
    expect((await deliver("process-webhook", JSON.stringify({ doorbell: "everything" }))).status).toBe(489);
  });

  it("accepts the next signing key (key rotation)", async () => {
    const body = JSON.stringify({ doorbell: "queued" });
    const response = await deliver("process-webhook", body, await qstashToken(keys.next, URL_OF("process-webhook"), body));
    expect(response.status).toBe(200);
  });

  const now = Math.floor(Date.now() / 1000);
  const body = JSON.stringify({ doorbell: "queued" });
  const refused: [string, () => Promise<string | null>, string?][] = [
    ["a missing signature", async () => null],
    ["a forged signature (wrong key)", () => qstashToken("sig_someone_else", URL_OF("process-webhook"), body)],
    ["a tampered body", () => qstashToken(keys.current, URL_OF("process-webhook"), body.replace("queued", "immediate"))],
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
    const response = await deliver("process-webhook", JSON.stringify({ doorbell: "queued", batchSize: 1.5 }));
    expect(response.status).toBe(489);
    expect(response.headers.get("upstash-nonretryable-error")).toBe("true");
    expect(((await response.json()) as { error: string }).error).toMatch(/batchSize/);
  });

  it("puts the lane's rows back on a transient failure (the drain's error model) and lets the lane go", async () => {
    api.alwaysFail = { status: 500, headers: { "retry-after-ms": "1" } };
    await connection.db.insert(embeddingQueue).values({ contentType: "post", contentId: postId, priority: 3 });
    const response = await deliver("process-webhook", JSON.stringify({ doorbell: "queued" }));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ retried: 1, stoppedBy: "transient-error" });
    expect(await connection.db.$count(embeddings)).toBe(0);
    const [row] = await connection.db.select().from(embeddingQueue);
    expect(row).toMatchObject({ status: "pending", attempts: 1 });
    expect(await laneStatesNow(connection.db)).toEqual([expect.objectContaining({ lane: "queued", held: false })]);
  });

  it("records the cause of a database error on the rows, the Postgres code and message, never the query", async () => {
    await connection.db.execute(sql`ALTER TABLE community_post RENAME TO community_post_away`);
    try {
      await connection.db.insert(embeddingQueue).values({ contentType: "post", contentId: postId, priority: 3 });
      const response = await deliver("process-webhook", JSON.stringify({ doorbell: "queued" }));
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ stoppedBy: "transient-error" });
      const [row] = await connection.db.select().from(embeddingQueue);
      expect(row!.status).toBe("pending");
      expect(row!.lastError).toMatch(/relation "community_post" does not exist \(Postgres 42P01\)/);
      expect(row!.lastError).not.toMatch(/select|params/i);
    } finally {
      await connection.db.execute(sql`ALTER TABLE community_post_away RENAME TO community_post`);
    }
  });

  it("records a permanent failure as failed and answers 200 so QStash stops", async () => {
    api.alwaysFail = { status: 400 };
    const ring = () => deliver("process-webhook", JSON.stringify({ doorbell: "queued" }));
    await connection.db.insert(embeddingQueue).values({ contentType: "post", contentId: postId, priority: 3 });
    expect((await ring()).status).toBe(200);
    const [row] = await connection.db.select().from(embeddingQueue);
    expect(row).toMatchObject({ contentType: "post", contentId: postId, status: "failed" });
    expect(row!.lastError).toMatch(/400/);
  });
});
