// True concurrency, which only a real PostgreSQL has (PGlite runs one session, so two transactions
// never overlap there): lost updates, deadlocks, errors in the middle of a write, status changes racing
// twin rows, and the row-version settlement against a commit that lands while processing runs.
import { eq, inArray, sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createFunctionApp } from "../functions/app";
import { loadConfig } from "../functions/config";
import { processItems } from "../functions/core/process";
import type { Deps } from "../functions/deps";
import { drain } from "../functions/drain";
import { claimBatch } from "../functions/queue/claim";
import { queueItems } from "../functions/queue/queue-items";
import { returnToPending, settleFailed } from "../functions/queue/settle";
import { retryFailed } from "../functions/retry-failed";
import { communityComment, communityPost, embeddingQueue, embeddings } from "../schema";
import type { Connection } from "../scripts/lib/database";
import { type FakeOpenAI, fakeServerEmbedder, startFakeOpenAI } from "../testing/fake-openai";
import { signedRequest } from "../testing/qstash-token";
import { seededRandom } from "../testing/random";
import { freshDatabase, onRealPostgres, POSTGRES_ONLY } from "./support/database";
import { testDeps } from "./support/deps";
import { waitFor } from "./support/wait-for";

const SITE = "https://embeddings.example.com";
const KEY = "sig_concurrency";
let connection: Connection;
let api: FakeOpenAI;
let deps: Deps;
/** The application's own session, editing rows beside the pipeline. */
let app: pg.Pool;

/** Inserts `count` comments (each queued by the capture trigger) and returns their ids. */
const insertComments = async (count: number, body: (i: number) => string) =>
  (
    await connection.db
      .insert(communityComment)
      .values(Array.from({ length: count }, (_, i) => ({ body: body(i) })))
      .returning()
  ).map((c) => c.id);

// Heavy by design (hundreds of overlapping transactions): generous time, as a busy machine needs.
describe.skipIf(!onRealPostgres)(`concurrency ${POSTGRES_ONLY}`, { timeout: 180_000 }, () => {
  beforeAll(async () => {
    [connection, api] = await Promise.all([freshDatabase(), startFakeOpenAI({ latencyMs: 5 })]);
    const config = loadConfig({
      SITE_URL: SITE,
      QSTASH_CURRENT_SIGNING_KEY: KEY,
      QSTASH_NEXT_SIGNING_KEY: KEY,
      WEBHOOK_SECRET: "concurrency-secret",
      DRAIN_BATCH_SIZE: "50",
      DRAIN_BUDGET_MS: "60000",
      LANE_LINGER_MS: "0",
    });
    deps = testDeps(connection.db, { config, embedder: fakeServerEmbedder(api) });
    app = new pg.Pool({ connectionString: connection.url, max: 8 });
  });
  afterAll(async () => {
    await app.end();
    await Promise.all([connection.close(), api.close()]);
  });
  beforeEach(async () => {
    api.latencyMs = 5;
    await app.query("DROP TRIGGER IF EXISTS test_gate ON embeddings; DROP TRIGGER IF EXISTS test_fault ON embeddings");
    await connection.db.delete(embeddings);
    await connection.db.delete(embeddingQueue);
  });

  const posts = async (n: number, prefix: string) =>
    (
      await connection.db
        .insert(communityPost)
        .values(Array.from({ length: n }, (_, i) => ({ title: `${prefix} ${i}`, body: `first text of ${prefix} ${i}` })))
        .returning()
    ).map((p) => p.id);
  const items = (ids: string[]) => ids.map((contentId) => ({ contentType: "post", contentId }));
  /** Items whose stored chunks are not their current text: processing them again would embed something. */
  const staleItems = async (ids: string[]) => {
    const before = api.requests.length;
    const result = await processItems(deps, items(ids));
    return { embedded: result.embedded, deleted: result.deleted, requests: api.requests.length - before };
  };
  /** Sessions of this database waiting on a lock (the pipeline's advisory locks, or row locks). */
  const lockWaiters = async () =>
    (
      await app.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      )
    ).rows[0]!.n;
  const signedDelivery = async (body: string) =>
    createFunctionApp("process-webhook", deps).request(await signedRequest(`${SITE}/api/embeddings/process-webhook`, body, KEY));

  it("never overwrites an edit committed between another delivery's check and its write (deterministic)", async () => {
    const [id] = await posts(1, "Gated");
    // A gate on embeddings: a write of the first text waits while the test holds advisory lock 4242,
    // so delivery A is caught after its check and before its write.
    await app.query(`CREATE OR REPLACE FUNCTION test_gate_fn() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.chunk_text LIKE '%first text%' THEN PERFORM pg_advisory_xact_lock_shared(4242); END IF; RETURN NEW; END $$;
      CREATE TRIGGER test_gate BEFORE INSERT ON embeddings FOR EACH ROW EXECUTE FUNCTION test_gate_fn()`);
    // Held by an open transaction, not the session: through a transaction-mode pooler (npm run
    // test:pooler) a session lock would stay on a server connection another client is then handed.
    const gate = await app.connect();
    await gate.query("BEGIN");
    await gate.query("SELECT pg_advisory_xact_lock(4242)");
    try {
      const a = processItems(deps, items([id!]));
      await waitFor(lockWaiters, 10_000, "delivery A to reach its write");
      await app.query("UPDATE community_post SET body = 'the second text' WHERE id = $1", [id]);
      // Delivery B reads the edit. Unprotected, it writes first and A then overwrites it; with the
      // items' locks it waits for A.
      const b = processItems(deps, items([id!]));
      await waitFor(
        async () => (await lockWaiters()) >= 2 || (await connection.db.$count(embeddings, sql`chunk_text LIKE '%second text%'`)),
        10_000,
        "delivery B to wait or write",
      );
      await gate.query("COMMIT");
      await Promise.all([a, b]);
    } finally {
      await gate.query("ROLLBACK").catch(() => undefined); // after COMMIT: a warning only
      gate.release();
    }
    const [stored] = await connection.db.select().from(embeddings).where(eq(embeddings.contentId, id!));
    expect(stored!.chunkText).toContain("the second text");
    expect(await staleItems([id!])).toMatchObject({ embedded: 0, requests: 0 });
  });

  it("leaves zero stale rows when drains and deliveries run while the application edits the same rows", async () => {
    const ids = await posts(60, "Busy");
    const random = seededRandom(7);
    for (let round = 0; round < 4; round++) {
      let editing = true;
      const edits = (async () => {
        for (let n = 0; n < 120; n++) {
          const id = ids[Math.floor(random() * ids.length)];
          await app.query("UPDATE community_post SET body = $1 WHERE id = $2", [`round ${round} edit ${n} of ${id}`, id]);
        }
        editing = false;
      })();
      const deliveries = (async () => {
        while (editing) {
          const response = await signedDelivery(JSON.stringify({ doorbell: "queued", batchSize: 8 }));
          expect(response.status).toBe(200);
        }
      })();
      const drains = (async () => {
        while (editing) {
          const summaries = await Promise.all([drain(deps), drain(deps)]);
          for (const s of summaries) expect(s.stoppedBy).not.toBe("transient-error");
        }
      })();
      await Promise.all([edits, deliveries, drains]);
      while ((await drain(deps)).remaining > 0);
      expect(await staleItems(ids), `round ${round}`).toMatchObject({ embedded: 0, requests: 0 });
    }
  });

  it("answers overlapping doorbell deliveries without a deadlock or a 5xx", async () => {
    const ids = await posts(20, "Overlap");
    const random = seededRandom(11);
    for (let round = 0; round < 3; round++) {
      await app.query("UPDATE community_post SET body = body || ' again' WHERE id = ANY($1)", [ids]);
      // Twenty runs of one lane at once, claiming batches of a few rows each while the application edits them.
      const edits = Promise.all(
        [...ids].sort(() => random() - 0.5).map((id) => app.query("UPDATE community_post SET body = body || '!' WHERE id = $1", [id])),
      );
      const responses = await Promise.all(
        Array.from({ length: 20 }, () => signedDelivery(JSON.stringify({ doorbell: "queued", batchSize: 3 }))),
      );
      await edits;
      while ((await drain(deps)).remaining > 0);
      expect(responses.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    }
    expect(await staleItems(ids)).toMatchObject({ embedded: 0 });
  });

  it("runs two and four drains at once over one backlog: every item embedded once, no transient error", async () => {
    for (const drains of [2, 4]) {
      await connection.db.delete(embeddingQueue);
      const ids = await insertComments(600, (i) => `comment ${i} of ${drains} drains`);
      const before = api.requests.reduce((n, r) => n + r.inputs, 0);
      const summaries = await Promise.all(Array.from({ length: drains }, () => drain(deps)));
      for (const s of summaries) expect(s.stoppedBy).toBe("empty");
      expect(summaries.reduce((n, s) => n + s.done, 0)).toBe(600);
      expect(api.requests.reduce((n, r) => n + r.inputs, 0) - before).toBe(600);
      expect(await connection.db.$count(embeddings, inArray(embeddings.contentId, ids))).toBe(600);
    }
  });

  it("takes twenty concurrent 1,000-item enqueue calls without a deadlock or a 5xx", async () => {
    const enqueue = createFunctionApp("enqueue", deps);
    const random = seededRandom(5);
    const ids = await insertComments(1500, (i) => `enqueued ${i}`);
    await connection.db.delete(embeddingQueue);
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => {
        const some = [...ids]
          .sort(() => random() - 0.5)
          .slice(0, 1000)
          .map((contentId) => ({ contentType: "comment", contentId }));
        return enqueue.request("/api/embeddings/enqueue", {
          method: "POST",
          body: JSON.stringify(some),
          headers: { "content-type": "application/json", authorization: "Bearer concurrency-secret" },
        });
      }),
    );
    expect(responses.map((r) => r.status).filter((s) => s !== 202)).toEqual([]);
    const [row] = await connection.db
      .select({ n: sql<number>`count(*)::int`, items: sql<number>`count(DISTINCT content_id)::int` })
      .from(embeddingQueue);
    expect(row!.n).toBe(row!.items); // one pending row per item
  });

  it("survives a database error in the middle of a write: short stored error, rows claimable at once", async () => {
    const ids = await insertComments(300, (i) => `faulty write ${i}`);
    // The row of "faulty write 250" fails, midway through its group's INSERT statement.
    await app.query(`CREATE OR REPLACE FUNCTION test_fault_fn() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.chunk_text = 'faulty write 250' THEN RAISE EXCEPTION 'injected fault' USING ERRCODE = 'P0001'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER test_fault BEFORE INSERT ON embeddings FOR EACH ROW EXECUTE FUNCTION test_fault_fn()`);
    const summary = await drain({ ...deps, config: { ...deps.config, drain: { ...deps.config.drain, batchSize: 300 } } });
    expect(summary.stoppedBy).toBe("transient-error");
    const rows = await connection.db.select().from(embeddingQueue).where(inArray(embeddingQueue.contentId, ids));
    // The failed batch (the drain sizes its batches to its budget: earlier ones may have gone through).
    const failed = rows.filter((r) => r.status !== "done");
    expect(failed.length).toBe(summary.retried);
    expect(new Set(failed.map((r) => r.status))).toEqual(new Set(["pending"]));
    for (const row of failed) {
      expect(row.lastError).toContain("injected fault (Postgres P0001)");
      expect(row.lastError!.length).toBeLessThanOrEqual(1000);
      expect(row.lastError).not.toMatch(/params|insert into|\d\.\d{5}/i);
    }
    // The batch is written a group of items a transaction (STORE_GROUP): the failing group's write rolled
    // back whole, the faulty item's with it; the groups written before it stand, and cost nothing again.
    const storedBefore = await connection.db.$count(
      embeddings,
      inArray(
        embeddings.contentId,
        failed.map((r) => r.contentId),
      ),
    );
    expect(storedBefore).toBeLessThanOrEqual(failed.length - 1);
    expect(await connection.db.$count(embeddings, eq(embeddings.chunkText, "faulty write 250"))).toBe(0);
    expect(await claimBatch(connection.db, 1000, 60_000)).toHaveLength(failed.length); // at once, not after the lease
    await app.query("DROP TRIGGER test_fault ON embeddings");
    await connection.db.update(embeddingQueue).set({ status: "pending", lockedUntil: null }).where(eq(embeddingQueue.status, "processing"));
    expect(await drain(deps)).toMatchObject({ stoppedBy: "empty", done: failed.length, embedded: failed.length - storedBefore });
    expect(await connection.db.$count(embeddings, inArray(embeddings.contentId, ids))).toBe(300);
  });

  it("moves rows between statuses while twin rows are inserted concurrently: no 23505, nothing spent", async () => {
    const ids = await insertComments(40, (i) => `twin ${i}`);
    const edit = (round: number) => app.query("UPDATE community_comment SET body = $1 || id WHERE id = ANY($2)", [`round ${round} `, ids]);
    for (let round = 0; round < 10; round++) {
      // Claimed rows go back to pending, or to failed, while each item's edit queues a pending twin.
      const claimed = await claimBatch(connection.db, 100, 60_000);
      expect(claimed).toHaveLength(40);
      const [toPending, toFailed] = [claimed.slice(0, 20), claimed.slice(20)];
      await Promise.all([
        edit(round),
        returnToPending(
          connection.db,
          toPending.map((r) => ({ id: r.id, delayMs: 0, error: "race" })),
        ),
        settleFailed(
          connection.db,
          toFailed.map((r) => ({ id: r.id, error: "race" })),
        ),
        // The failed records of last round go back as well, meeting this round's twins.
        retryFailed(deps),
      ]);
      const rows = await connection.db.select().from(embeddingQueue).where(inArray(embeddingQueue.contentId, ids));
      const pending = rows.filter((r) => r.status === "pending");
      expect(new Set(pending.map((r) => r.contentId)).size).toBe(40); // every item still due
      expect(pending.length).toBe(40);
      // A twin that merged keeps the attempts the item has had; none was reset by the race.
      const failed = rows.filter((r) => r.status === "failed");
      for (const row of failed) expect(row.attempts).toBeGreaterThanOrEqual(1);
      await connection.db.update(embeddingQueue).set({ runAfter: sql`now()` });
    }
  });

  it("keeps a change pending when its transaction commits while the item is processed", async () => {
    const [id] = await posts(1, "Late commit");
    await connection.db.delete(embeddingQueue);
    await queueItems(connection.db, [{ contentType: "post", contentId: id!, priority: 4, op: "upsert" }], "webhook");
    // The application's transaction edits the row (its trigger updates the pending queue row) and
    // stays open while the pipeline processes the item.
    const late = await app.connect();
    try {
      await late.query("BEGIN");
      await late.query("UPDATE community_post SET body = 'committed late' WHERE id = $1", [id]);
      const processing = processItems(deps, items([id!]));
      await waitFor(
        async () => (await lockWaiters()) > 0 || (await connection.db.$count(embeddings, eq(embeddings.contentId, id!))),
        10_000,
        "processing to wait or finish",
      );
      await late.query("COMMIT");
      await processing;
    } finally {
      late.release();
    }
    const queued = await connection.db.select().from(embeddingQueue).where(eq(embeddingQueue.contentId, id!));
    expect(queued.map((r) => r.status)).toContain("pending");
    expect(await drain(deps)).toMatchObject({ done: 1 });
    const [stored] = await connection.db.select().from(embeddings).where(eq(embeddings.contentId, id!));
    expect(stored!.chunkText).toContain("committed late");
  });
});
