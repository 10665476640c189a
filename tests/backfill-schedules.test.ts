import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../functions/config";
import { communityPost, embeddingQueue } from "../schema";
import { createRegistry } from "../schema/registry";
import { backfill, BACKFILL_PRIORITY } from "../scripts/lib/backfill";
import type { Connection } from "../scripts/lib/database";
import { SCHEDULES, syncSchedules } from "../scripts/lib/schedules";
import { startEmulator, type RunningEmulator } from "../scripts/qstash-emulator/http";
import { freshDatabase } from "./support/database";

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
    const rows = await db.select({ n: sql<number>`count(*)::int`, priority: embeddingQueue.priority, source: embeddingQueue.source }).from(embeddingQueue).groupBy(embeddingQueue.priority, embeddingQueue.source);
    expect(rows).toEqual([{ n: 250, priority: BACKFILL_PRIORITY, source: "backfill" }]);

    const ids = (await db.select({ id: communityPost.id }).from(communityPost).orderBy(communityPost.id)).map((r) => r.id);
    expect(await backfill(db, post, { batchSize: 100, after: ids[199] })).toBe(50);
    expect(await db.$count(embeddingQueue)).toBe(250);
  });
});

describe("schedules", () => {
  it("creates the three schedules once, and running again changes nothing", async () => {
    const config = loadConfig({ QSTASH_TOKEN: "t", QSTASH_URL: emulator.url, SITE_URL: "https://app.example.com" });
    const first = await syncSchedules(config, SCHEDULES);
    const second = await syncSchedules(config, SCHEDULES);
    const view = (list: typeof first) => list.map((s) => [s.scheduleId, s.cron, s.destination]).sort();
    expect(view(second)).toEqual(view(first));
    expect(view(first)).toEqual([
      ["embeddings-drain", "* * * * *", "https://app.example.com/api/embeddings/drain"],
      ["embeddings-maintenance", "0 2 * * *", "https://app.example.com/api/embeddings/maintenance"],
      ["embeddings-retry-failed", "0 3 * * 0", "https://app.example.com/api/embeddings/retry-failed"],
    ]);
    expect(emulator.emulator.schedules.size).toBe(3);
    expect(emulator.emulator.queues.get("embeddings")).toMatchObject({ parallelism: 5 });
  });
});
