// The lane state (functions/queue/lane-state.ts): an enqueue rings only a lane it finds idle, and a run
// letting its lane go and an enqueue that finds it held never both leave a change unrung. On real
// PostgreSQL the two race in separate sessions; on PGlite they interleave in one.
import { eq, sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../functions/config";
import type { Deps } from "../functions/deps";
import { routeChanges } from "../functions/enqueue/route-changes";
import { LANE_PRIORITIES } from "../functions/qstash/lanes";
import { qstashPublisher } from "../functions/qstash/publisher";
import { holdLanes, readyCount, releaseLane } from "../functions/queue";
import { communityPost, embeddingQueue, laneStates, qstashSpend } from "../schema";
import { type RunningEmulator, startEmulator } from "../scripts/qstash-emulator/http";
import { fakeServerEmbedder } from "../testing/fake-openai";
import { onRealPostgres, POSTGRES_ONLY } from "./support/database";
import { testDeps } from "./support/deps";
import { emptyTables, useDatabaseAndApi } from "./support/fixtures";

const t = useDatabaseAndApi();
let emulator: RunningEmulator;
let deps: Deps;
const QUEUED = LANE_PRIORITIES.queued;

beforeAll(async () => {
  emulator = await startEmulator({ token: "lane-token", currentSigningKey: "sig_a", nextSigningKey: "sig_b", defaultRetries: 0 });
  // Nothing is delivered: these tests look at what was rung, not at the runs.
  emulator.emulator.faults = { failDelivery: () => true };
  const config = loadConfig({ SITE_URL: "http://127.0.0.1:9", QSTASH_TOKEN: "lane-token", QSTASH_URL: emulator.url });
  deps = testDeps(t.connection.db, { config, embedder: fakeServerEmbedder(t.api), publisher: qstashPublisher(config) });
});
afterAll(() => emulator.close());
beforeEach(() => emptyTables(t.connection.db, embeddingQueue, laneStates, qstashSpend));

const published = async () => (await t.connection.db.select().from(qstashSpend))[0]?.publishRequests ?? 0;
const newPosts = async (n: number) =>
  (
    await t.connection.db
      .insert(communityPost)
      .values(Array.from({ length: n }, (_, i) => ({ title: `Lane post ${i}` })))
      .returning()
  ).map((p) => p.id);
const changeOf = (contentId: string) => ({ contentType: "post", contentId, priority: 3, op: "upsert" as const });

describe("lane state", () => {
  it("rings an idle lane once; changes while it is held publish nothing", async () => {
    const ids = await newPosts(5);
    for (const id of ids) await routeChanges(deps, [changeOf(id)]);
    expect(await published()).toBe(1);
    const [lane] = await t.connection.db.select().from(laneStates).where(eq(laneStates.lane, "queued"));
    expect(lane).toMatchObject({ holder: "ringing" });
  });

  it("a run lets its lane go only when none of the lane's rows is ready", async () => {
    const [id] = await newPosts(1);
    await holdLanes(t.connection.db, [{ lane: "queued", leaseMs: 60_000 }], "serving");
    await routeChanges(deps, [changeOf(id!)]);
    expect(await published()).toBe(0);
    expect(await releaseLane(t.connection.db, "queued", QUEUED)).toBe(false);
    await t.connection.db.update(embeddingQueue).set({ status: "done" });
    expect(await releaseLane(t.connection.db, "queued", QUEUED)).toBe(true);
    await routeChanges(deps, [changeOf(id!)]);
    expect(await published()).toBe(1);
  });

  it("a run's release and concurrent enqueues: exactly one of them takes each change, never neither", async () => {
    const rounds = onRealPostgres ? 60 : 15;
    const ids = await newPosts(rounds);
    for (const id of ids) {
      await t.connection.db.delete(embeddingQueue);
      await t.connection.db.delete(qstashSpend);
      await holdLanes(t.connection.db, [{ lane: "queued", leaseMs: 60_000 }], "serving");
      // Started together; on a real server the enqueue's transaction and the release's race.
      const jitter = () => new Promise((r) => setTimeout(r, Math.random() * 3));
      const [, released] = await Promise.all([
        jitter().then(() => routeChanges(deps, [changeOf(id)])),
        jitter().then(() => releaseLane(t.connection.db, "queued", QUEUED)),
      ]);
      const rang = (await published()) === 1;
      // Released: the enqueue found the lane idle and rang. Kept: the run serves the row, nothing rung.
      expect({ released, rang }).toEqual({ released, rang: released });
      expect(await readyCount(t.connection.db, QUEUED)).toBe(1);
    }
  });
});

describe.skipIf(!onRealPostgres)(`lane state under a held lock ${POSTGRES_ONLY}`, () => {
  let session: pg.Client;
  beforeAll(async () => {
    session = new pg.Client({ connectionString: t.connection.url });
    await session.connect();
  });
  afterAll(() => session.end());

  it("an enqueue whose rows are not yet committed makes the run's release wait, then keep serving", async () => {
    const [id] = await newPosts(1);
    await holdLanes(t.connection.db, [{ lane: "queued", leaseMs: 60_000 }], "serving");
    // The enqueue's transaction, held open after its queue write and its lock of the lane.
    await session.query("BEGIN");
    await session.query("SELECT queue_for_embedding('post', $1, 3, 'upsert', 'webhook', 0)", [id]);
    await session.query("SELECT lane FROM lane_state WHERE lane = 'queued' FOR UPDATE");
    let settled = false;
    const release = releaseLane(t.connection.db, "queued", QUEUED).finally(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
    await session.query("COMMIT");
    expect(await release).toBe(false);
  });

  it("a release in a transaction begun before an enqueue still counts the enqueue's rows and keeps serving", async () => {
    const [id] = await newPosts(1);
    await holdLanes(t.connection.db, [{ lane: "queued", leaseMs: 60_000 }], "serving");
    // The release's transaction starts first (its now() is earlier than the enqueue's), the enqueue
    // commits, finding the lane held, then the release locks and counts: the row must keep it serving.
    const released = await t.connection.db.transaction(async (tx) => {
      await tx.execute(sql`SELECT now()`);
      await new Promise((r) => setTimeout(r, 20));
      await routeChanges(deps, [changeOf(id!)]);
      return releaseLane(tx as unknown as typeof t.connection.db, "queued", QUEUED);
    });
    expect(await published()).toBe(0);
    expect(released).toBe(false);
  });

  it("a release under way makes the enqueue wait, then find the lane idle and ring", async () => {
    const [id] = await newPosts(1);
    await holdLanes(t.connection.db, [{ lane: "queued", leaseMs: 60_000 }], "serving");
    // The run's release, holding the lane's lock with none of its rows ready, then letting it go.
    await session.query("BEGIN");
    await session.query("SELECT lane FROM lane_state WHERE lane = 'queued' FOR UPDATE");
    const enqueue = routeChanges(deps, [changeOf(id!)]);
    await new Promise((r) => setTimeout(r, 100));
    await session.query("UPDATE lane_state SET held_until = now() WHERE lane = 'queued'");
    await session.query("COMMIT");
    await enqueue;
    expect(await published()).toBe(1);
    const [lane] = await t.connection.db.select().from(laneStates).where(eq(laneStates.lane, "queued"));
    expect(lane).toMatchObject({ holder: "ringing" });
    expect(lane!.heldUntil.getTime()).toBeGreaterThan(Date.now());
  });
});
