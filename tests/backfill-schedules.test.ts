import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../functions/config";
import { STORE_GROUP } from "../functions/core/process";
import type { ChunkWriter } from "../functions/core/store";
import { rowsOf } from "../functions/db/database";
import { buildHnswIndex, dropHnswIndex, indexBuildSettings } from "../functions/db/hnsw-index";
import type { Embedder } from "../functions/embedders/embedder";
import { localEmbedder } from "../functions/embedders/local";
import { maintain } from "../functions/maintenance";
import { communityPost, embeddingQueue, embeddings, HNSW_INDEX } from "../schema";
import { BACKGROUND_PRIORITY, createRegistry } from "../schema/registry";
import { backfill } from "../scripts/lib/backfill";
import type { Connection } from "../scripts/lib/database";
import { drainBacklog, overlapBatchSize } from "../scripts/lib/initial-load";
import { firesPerDay, SCHEDULES, scheduleBill, schedulesFrom, syncSchedules } from "../scripts/lib/schedules";
import { type RunningEmulator, startEmulator } from "../scripts/qstash-emulator/http";
import { planLimits } from "../scripts/qstash-emulator/plans";
import { main as runSchedules } from "../scripts/schedules";
import { watchCopies } from "./support/copy-spy";
import { freshDatabase, onRealPostgres, POSTGRES_ONLY } from "./support/database";
import { testDeps } from "./support/deps";

let connection: Connection;
let emulator: RunningEmulator;
beforeAll(async () => {
  [connection, emulator] = await Promise.all([freshDatabase(), startEmulator({ token: "t", currentSigningKey: "a", nextSigningKey: "b" })]);
});
afterAll(async () => {
  await Promise.all([connection.close(), emulator.close()]);
});

describe("backfill", () => {
  it("queues every row in batches, resumes after a given id, and coalesces with pending rows", async () => {
    const db = connection.db;
    await db.insert(communityPost).values(Array.from({ length: 250 }, (_, i) => ({ title: `Existing post ${i}` })));
    await db.delete(embeddingQueue);
    const post = createRegistry().byType("post")!;
    const progress: number[] = [];
    const firstRun = await backfill(db, post, { batchSize: 100, onProgress: (done) => progress.push(done) });
    expect(firstRun).toBe(250);
    expect(progress).toEqual([100, 200, 250]);
    const rows = await db
      .select({ n: sql<number>`count(*)::int`, priority: embeddingQueue.priority, source: embeddingQueue.source })
      .from(embeddingQueue)
      .groupBy(embeddingQueue.priority, embeddingQueue.source);
    expect(rows).toEqual([{ n: 250, priority: BACKGROUND_PRIORITY, source: "backfill" }]);

    const ids = (await db.select({ id: communityPost.id }).from(communityPost).orderBy(communityPost.id)).map((r) => r.id);
    expect(await backfill(db, post, { batchSize: 100, after: ids[199] })).toBe(50);
    expect(await db.$count(embeddingQueue)).toBe(250);
  });
});

describe("backfill --drain", () => {
  it("embeds the backlog now, loading an empty table without the HNSW index and building it after", async () => {
    const db = connection.db;
    await db.delete(communityPost);
    await db.delete(embeddingQueue);
    await db
      .insert(communityPost)
      .values(Array.from({ length: 40 }, (_, i) => ({ title: `Loaded post ${i}`, body: "Telescopes and star charts." })));
    await backfill(db, createRegistry().byType("post")!);
    const hnswPresent = async () => (await db.$count(sql`pg_indexes`, sql`indexname = ${HNSW_INDEX}`)) === 1;
    const indexDuringLoad: boolean[] = [];
    const local = localEmbedder(1536);
    const embedder: Embedder = { ...local, embed: async (texts) => (indexDuringLoad.push(await hnswPresent()), local.embed(texts)) };
    const deps = testDeps(db, { embedder, env: { DRAIN_BATCH_SIZE: "15" } });

    // On PostgreSQL each run writes by binary COPY, on a connection of its own (PGlite has none: the upsert).
    const load = await drainBacklog(deps, { maintenanceWorkMem: "64MB", copySession: connection.copySession });
    expect(load).toMatchObject({ done: 40, failed: 0, remaining: 0, rebuiltIndex: true });
    expect(indexDuringLoad).toEqual([false, false, false]);
    expect(await hnswPresent()).toBe(true);
    expect(await db.$count(embeddings)).toBe(40);

    // A table that already holds vectors keeps its index: the new rows go into it.
    await db.insert(communityPost).values({ title: "One more post" });
    indexDuringLoad.length = 0;
    expect(await drainBacklog(deps, { copySession: connection.copySession })).toMatchObject({ done: 1, rebuiltIndex: false });
    expect(indexDuringLoad).toEqual([true]);
  });

  it("builds the index again when a stopped first load left it dropped: at the next load and in maintenance", async () => {
    const db = connection.db;
    const deps = testDeps(db);
    const hnswPresent = async () => (await db.$count(sql`pg_indexes`, sql`indexname = ${HNSW_INDEX}`)) === 1;
    expect(await db.$count(embeddings)).toBeGreaterThan(0);
    // What a SIGKILL mid-load leaves: vectors stored, the index still dropped.
    await dropHnswIndex(db);
    await db.insert(communityPost).values({ title: "After the crash" });
    expect(await drainBacklog(deps, { copySession: connection.copySession })).toMatchObject({ done: 1, rebuiltIndex: true });
    expect(await hnswPresent()).toBe(true);

    await dropHnswIndex(db);
    expect(await maintain(deps)).toMatchObject({ indexRebuilt: true });
    expect(await hnswPresent()).toBe(true);
    expect(await maintain(deps)).toMatchObject({ indexRebuilt: false });
  });

  it("refuses to replace another model's vectors with the local embedder's unless EMBEDDER=local asks for it", async () => {
    const db = connection.db;
    const [post] = await db.insert(communityPost).values({ title: "Embedded by OpenAI" }).returning();
    await db.delete(embeddingQueue);
    await db.insert(embeddings).values({
      contentType: "post",
      contentId: post!.id,
      chunkIndex: 0,
      chunkText: "Embedded by OpenAI",
      contentHash: "h",
      model: "text-embedding-3-small",
      dimensions: 1536,
      embedding: Array(1536).fill(0.01),
    });
    await backfill(db, createRegistry().byType("post")!);
    const deps = (env: Record<string, string>) => testDeps(db, { env });
    // A shell without OPENAI_API_KEY: the local embedder is only fallen back on.
    await expect(drainBacklog(deps({}))).rejects.toThrow(/made by text-embedding-3-small.*OPENAI_API_KEY.*EMBEDDER=local/);
    expect(await db.$count(embeddings, sql`model = 'text-embedding-3-small'`)).toBe(1);
    expect(await drainBacklog(deps({ EMBEDDER: "local" }))).toMatchObject({ failed: 0, remaining: 0 });
    expect(await db.$count(embeddings, sql`model = 'text-embedding-3-small'`)).toBe(0);
  });

  it("loads with two drain runs at once: one embeds a batch while the other writes its own", async () => {
    const db = connection.db;
    await db.delete(communityPost);
    await db.delete(embeddingQueue);
    await db.delete(embeddings);
    await db
      .insert(communityPost)
      .values(Array.from({ length: 30 }, (_, i) => ({ title: `Concurrent post ${i}`, body: "Orbits and tides." })));
    await backfill(db, createRegistry().byType("post")!);
    const local = localEmbedder(1536);
    let inFlight = 0;
    let mostInFlight = 0;
    let released: () => void = () => undefined;
    const secondCall = new Promise<void>((resolve) => (released = resolve));
    // Each call waits (at most 5 s) for another to be in flight: with one run at a time, none ever is.
    const embedder: Embedder = {
      ...local,
      embed: async (texts) => {
        mostInFlight = Math.max(mostInFlight, ++inFlight);
        if (inFlight >= 2) released();
        await Promise.race([secondCall, new Promise((resolve) => setTimeout(resolve, 5000))]);
        inFlight--;
        return local.embed(texts);
      },
    };
    const load = await drainBacklog(testDeps(db, { embedder, env: { DRAIN_BATCH_SIZE: "10" } }));
    expect(load).toMatchObject({ done: 30, failed: 0, remaining: 0 });
    expect(mostInFlight).toBe(2);
    expect(await db.$count(embeddings)).toBe(30);
  });

  it("splits a backlog of one batch's size so that each run has two batches to overlap", async () => {
    const db = connection.db;
    await db.delete(communityPost);
    await db.delete(embeddingQueue);
    await db.insert(communityPost).values(Array.from({ length: 400 }, (_, i) => ({ title: `Split post ${i}` })));
    await backfill(db, createRegistry().byType("post")!);
    const local = localEmbedder(1536);
    const sizes: number[] = [];
    const embedder: Embedder = { ...local, embed: async (texts) => (sizes.push(texts.length), local.embed(texts)) };
    const deps = testDeps(db, { embedder, env: { DRAIN_BATCH_SIZE: "1000" } });
    expect(await drainBacklog(deps, { copySession: connection.copySession })).toMatchObject({ done: 400, remaining: 0 });
    // Batches of 100, not 1,000 (a run out of time on a very busy machine may embed one in two parts).
    expect(Math.max(...sizes)).toBe(100);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(400);
    expect(overlapBatchSize(400, 1000)).toBe(100);
    expect(overlapBatchSize(40, 15)).toBe(15); // never below 100 for overlap's sake, never above DRAIN_BATCH_SIZE
    expect(overlapBatchSize(100_000, 1000)).toBe(1000);
  });

  it.skipIf(!onRealPostgres)(`writes by COPY and upserts the keys another writer stored meanwhile ${POSTGRES_ONLY}`, async () => {
    const db = connection.db;
    await db.delete(communityPost);
    await db.delete(embeddingQueue);
    await db.delete(embeddings);
    const posts = await db
      .insert(communityPost)
      .values(Array.from({ length: 30 }, (_, i) => ({ title: `Copied post ${i}`, body: "Comets and their tails." })))
      .returning({ id: communityPost.id });
    await backfill(db, createRegistry().byType("post")!);
    // A webhook delivery stored five of them, from an older text, before the load reached them.
    const local = localEmbedder(1536);
    const [old] = await local.embed(["an older text"]);
    await db.insert(embeddings).values(
      posts.slice(10, 15).map((p) => ({
        contentType: "post",
        contentId: String(p.id),
        chunkIndex: 0,
        chunkText: "an older text",
        contentHash: "older",
        model: local.model,
        dimensions: local.dimensions,
        embedding: old!,
      })),
    );
    const deps = testDeps(db, { embedder: local, env: { DRAIN_BATCH_SIZE: "10" } });
    const copied = await watchCopies(() => drainBacklog(deps, { copySession: connection.copySession }));
    expect(copied.result).toMatchObject({ done: 30, failed: 0, remaining: 0 });
    // The 25 new keys went by COPY (binary: their vectors are in its bytes), the five stored ones by the upsert.
    expect(copied.statements.length).toBeGreaterThanOrEqual(1);
    expect(copied.statements.every((text) => text.startsWith("COPY embeddings"))).toBe(true);
    expect(copied.bytes).toBeGreaterThan(25 * 1536 * 4);
    expect(copied.bytes).toBeLessThan(26 * 1536 * 4 + 20_000);
    const stored = await db.select({ id: embeddings.contentId, text: embeddings.chunkText }).from(embeddings);
    expect(stored).toHaveLength(30);
    expect(new Set(stored.map((r) => r.id))).toEqual(new Set(posts.map((p) => String(p.id))));
    expect(stored.filter((r) => r.text === "an older text")).toEqual([]);
    expect(await db.$count(embeddingQueue, sql`status <> 'done'`)).toBe(0);
  });

  it.skipIf(!onRealPostgres)(
    `a first load with no index writes each batch whole; with the index in place, STORE_GROUP items a write ${POSTGRES_ONLY}`,
    async () => {
      const db = connection.db;
      await db.delete(communityPost);
      await db.delete(embeddingQueue);
      await db.delete(embeddings);
      // Rows per COPY, as each write transaction hands them to the writer (one chunk a short post).
      const written: number[] = [];
      const copySession = async () => {
        const session = await connection.copySession!();
        const write: ChunkWriter = (tx, rows, model, table) => (written.push(rows.length), session.writer.write(tx, rows, model, table));
        return { ...session, writer: { ...session.writer, write } };
      };
      const load = async (n: number, title: string) => {
        await db.insert(communityPost).values(Array.from({ length: n }, (_, i) => ({ title: `${title} ${i}` })));
        await backfill(db, createRegistry().byType("post")!);
        written.length = 0;
        return drainBacklog(testDeps(db, { env: { DRAIN_BATCH_SIZE: "100" } }), { copySession, maintenanceWorkMem: "64MB" });
      };
      expect(await load(200, "First")).toMatchObject({ done: 200, failed: 0, rebuiltIndex: true });
      expect(Math.max(...written)).toBeGreaterThan(STORE_GROUP);
      // The backfill queues every post again: the first 200 are unchanged and cost no write.
      expect(await load(200, "Second")).toMatchObject({ done: 400, failed: 0, rebuiltIndex: false });
      expect(Math.max(...written)).toBeLessThanOrEqual(STORE_GROUP);
      expect(written.reduce((a, b) => a + b, 0)).toBe(200);
    },
  );

  it.skipIf(!onRealPostgres)(
    `a run whose COPY connection drops puts its batch back in line, and the load goes on ${POSTGRES_ONLY}`,
    async () => {
      const db = connection.db;
      await db.delete(communityPost);
      await db.delete(embeddingQueue);
      await db.delete(embeddings);
      await db.insert(communityPost).values(Array.from({ length: 30 }, (_, i) => ({ title: `Dropped post ${i}` })));
      await backfill(db, createRegistry().byType("post")!);
      let dropped = 0;
      // The first write's connection is ended by the server, as a restart or a network cut would end it.
      const copySession = async () => {
        const session = await connection.copySession!();
        const write: ChunkWriter = async (tx, rows, model) => {
          if (dropped++ === 0) await tx.execute(sql`SELECT pg_terminate_backend(pg_backend_pid())`);
          return session.writer.write(tx, rows, model);
        };
        return { ...session, writer: { ...session.writer, write } };
      };
      const deps = testDeps(db, { env: { DRAIN_BATCH_SIZE: "10" } });
      const load = await drainBacklog(deps, { copySession, maintenanceWorkMem: "64MB" });
      expect(dropped).toBeGreaterThan(1);
      expect(load).toMatchObject({ failed: 0, rebuiltIndex: true });
      const states = await db
        .select({ status: embeddingQueue.status, n: sql<number>`count(*)::int` })
        .from(embeddingQueue)
        .groupBy(embeddingQueue.status);
      // Nothing stranded: every item embedded or back in line (the other run embeds what it finds there).
      expect(states.filter((s) => s.status === "processing" || s.status === "failed")).toEqual([]);
      expect(states.reduce((sum, s) => sum + s.n, 0)).toBe(30);
      expect(await db.$count(embeddings)).toBe(load.done);
      expect(await db.$count(sql`pg_indexes`, sql`indexname = ${HNSW_INDEX}`)).toBe(1);
    },
  );

  it("builds the index with settings read from the server, for that build only", async () => {
    const db = connection.db;
    const server = async () =>
      (
        await rowsOf<{ memory: string; workers: string; scan: string }>(
          db.execute(sql`SELECT
      current_setting('maintenance_work_mem') AS memory, current_setting('max_parallel_maintenance_workers') AS workers,
      current_setting('min_parallel_table_scan_size') AS scan`),
        )
      )[0]!;
    const before = await server();
    const [bytes] = await rowsOf<{ current: number; cache: number }>(
      db.execute(sql`SELECT
      pg_size_bytes(current_setting('maintenance_work_mem'))::float8 AS current, pg_size_bytes(current_setting('effective_cache_size'))::float8 AS cache`),
    );
    const settings = await indexBuildSettings(db);
    const memory = Number(settings.maintenance_work_mem!.replace("MB", "")) * 1024 * 1024;
    // Never below the server's own setting, never above a quarter of the memory it says it has.
    expect(memory).toBeGreaterThanOrEqual(bytes!.current);
    expect(memory).toBeLessThanOrEqual(Math.max(bytes!.current, bytes!.cache / 4) + 1024 * 1024);
    expect(settings).toMatchObject({ max_parallel_maintenance_workers: before.workers, min_parallel_table_scan_size: "0" });
    await dropHnswIndex(db);
    await buildHnswIndex(db);
    expect(await db.$count(sql`pg_indexes`, sql`indexname = ${HNSW_INDEX}`)).toBe(1);
    expect(await server()).toEqual(before);
  });
});

describe("schedules", () => {
  const config = () => loadConfig({ QSTASH_TOKEN: "t", QSTASH_URL: emulator.url, SITE_URL: "https://app.example.com" });

  it("creates the three schedules and the drain's queue on the Free plan once, and running again changes nothing", async () => {
    const first = await syncSchedules(config(), SCHEDULES);
    const second = await syncSchedules(config(), SCHEDULES);
    const view = (report: typeof first) => report.schedules.map((s) => [s.scheduleId, s.cron, s.destination]).sort();
    expect(view(second)).toEqual(view(first));
    expect(view(first)).toEqual([
      ["embeddings-drain", "*/5 * * * *", "https://app.example.com/api/embeddings/drain"],
      ["embeddings-maintenance", "0 2 * * *", "https://app.example.com/api/embeddings/maintenance"],
      ["embeddings-retry-failed", "0 3 * * 0", "https://app.example.com/api/embeddings/retry-failed"],
    ]);
    expect(first.adjustments).toEqual([]);
    expect(emulator.emulator.schedules.size).toBe(3);
    expect(emulator.emulator.queues.get("embeddings-drain")).toMatchObject({ parallelism: 2 });
    // The default keeps the schedules within half the Free plan's 1,000 messages a day.
    expect(first.schedules.reduce((n, s) => n + firesPerDay(s.cron), 0)).toBeLessThanOrEqual(500);
  });

  it("says a wrong token or an unreachable QStash for what it is, not as a plan's refusal, and claims nothing created", async () => {
    const wrong = loadConfig({ QSTASH_TOKEN: "wrong-token", QSTASH_URL: emulator.url, SITE_URL: "https://app.example.com" });
    await expect(syncSchedules(wrong, SCHEDULES)).rejects.toThrow(/QStash refused QSTASH_TOKEN \(401\)/);
    const away = loadConfig({ QSTASH_TOKEN: "t", QSTASH_URL: "http://127.0.0.1:9", SITE_URL: "https://app.example.com" });
    await expect(syncSchedules(away, SCHEDULES)).rejects.toThrow(/QStash is unreachable at QSTASH_URL http:\/\/127\.0\.0\.1:9/);
  });

  it("names DRAIN_CRON when it is not a cron", () => {
    expect(() => schedulesFrom({ DRAIN_CRON: "every minute" })).toThrow(/DRAIN_CRON is not a cron: "every minute"/);
  });

  it("npm run schedules without QSTASH_TOKEN or SITE_URL says which, in one sentence", async () => {
    // scripts/schedules.ts's main, in process (tests/e2e/scripts.test.ts runs the script itself).
    await expect(runSchedules({ SITE_URL: "https://app.example.com" })).rejects.toThrow(/^QSTASH_TOKEN is not set/);
    await expect(runSchedules({ QSTASH_TOKEN: "t", QSTASH_URL: emulator.url })).rejects.toThrow(/^SITE_URL is not set/);
  });

  it("says what the plan refused and what it did instead, and creates everything else", async () => {
    const other = await startEmulator({
      token: "t",
      currentSigningKey: "a",
      nextSigningKey: "b",
      limits: { schedules: 2, queueParallelism: 1 },
    });
    try {
      const report = await syncSchedules(
        { ...config(), qstash: { ...config().qstash, url: other.url } },
        schedulesFrom({ DRAIN_CRON: "* * * * *" }),
        planLimits("free"),
      );
      expect(report.adjustments).toEqual([
        {
          what: "queue embeddings-drain at parallelism 2",
          refused: expect.stringMatching(/^412 .*maximum queue parallelism of 1/),
          instead: "parallelism 1",
        },
        {
          what: "schedule embeddings-drain (* * * * *)",
          refused: "1440 a day is over the 498.9 a day this plan's 1000 messages a day leave for it",
          instead: "cron */3 * * * * (480 a day)",
        },
        {
          what: "schedule embeddings-retry-failed (0 3 * * 0)",
          refused: expect.stringMatching(/^412 .*allows 2 active schedules/),
          instead: "nothing",
        },
      ]);
      expect(report.queues).toEqual([{ queueName: "embeddings-drain", parallelism: 1 }]);
      expect(report.schedules.map((s) => [s.scheduleId, s.cron])).toEqual([
        ["embeddings-drain", "*/3 * * * *"],
        ["embeddings-maintenance", "0 2 * * *"],
      ]);
      expect([...other.emulator.schedules.keys()].sort()).toEqual(["embeddings-drain", "embeddings-maintenance"]);
    } finally {
      await other.close();
    }
  });

  it("fits the drain to CHANGES_VIA and prints its messages a day and a month", () => {
    expect(schedulesFrom({ CHANGES_VIA: "enqueue" }).map((s) => s.cron)).toEqual(["*/30 * * * *", "0 2 * * *", "0 3 * * 0"]);
    expect(schedulesFrom({}).map((s) => s.cron)).toEqual(["*/5 * * * *", "0 2 * * *", "0 3 * * 0"]);
    expect(schedulesFrom({ CHANGES_VIA: "enqueue", DRAIN_CRON: "*/10 * * * *" })[0]!.cron).toBe("*/10 * * * *");
    const enqueue = scheduleBill({ CHANGES_VIA: "enqueue" });
    expect(enqueue[0]).toMatch(/^CHANGES_VIA=enqueue: .*slow safety net/);
    expect(enqueue.at(-1)).toMatch(/schedules in all\s+49\.1 messages\/day\s+1474\.3\/month/);
    expect(scheduleBill({}).at(-1)).toMatch(/289\.1 messages\/day\s+8674\.3\/month/);
  });

  it("counts a cron's messages a day, CRON_TZ included", () => {
    expect(firesPerDay("* * * * *")).toBe(1440);
    expect(firesPerDay("*/4 * * * *")).toBe(360);
    expect(firesPerDay("CRON_TZ=Europe/Paris 0 2 * * *")).toBe(1);
    expect(firesPerDay("0 3 * * 0")).toBeCloseTo(1 / 7);
  });
});
