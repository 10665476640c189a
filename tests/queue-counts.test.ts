// The status page's counts are exact at any size (functions/status/queue-counts.ts): the deltas the
// statement triggers append are checked against a count(*) of the queue after every kind of move, on
// PGlite and on PostgreSQL, where concurrent writers and folds race.
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rowsOf } from "../functions/db/database";
import {
  claimBatch,
  deleteDoneRows,
  queueItems,
  retryFailedRows,
  returnToPending,
  settleDone,
  settleFailed,
} from "../functions/queue/index";
import { foldQueueCounts, queueCounts } from "../functions/status/queue-counts";
import { embeddingQueue } from "../schema/pipeline-tables";
import type { Connection } from "../scripts/lib/database";
import { freshDatabase, onRealPostgres, POSTGRES_ONLY } from "./support/database";

let connection: Connection;
beforeAll(async () => {
  connection = await freshDatabase();
});
afterAll(() => connection?.close());

const counted = async () =>
  rowsOf<{ status: string; priority: number; count: number }>(
    connection.db.execute(
      sql`SELECT status, priority, count(*)::int AS count FROM embedding_queue GROUP BY status, priority ORDER BY status, priority`,
    ),
  );
const items = (from: number, n: number, priority: number) =>
  Array.from({ length: n }, (_, i) => ({ contentType: "post", contentId: `p${from + i}`, priority, op: "upsert" as const }));

describe("exact queue counts", () => {
  it("match a count of the queue after every move a row can make", async () => {
    const { db } = connection;
    const check = async () => expect(await queueCounts(db)).toEqual(await counted());
    await check();
    await queueItems(db, items(0, 40, 1), "webhook");
    await queueItems(db, items(100, 30, 4), "trigger");
    await queueItems(db, items(200, 25, 9), "backfill");
    await check();
    // Coalescing: the same items again add no row, and a higher priority moves a row between lanes.
    await queueItems(db, items(0, 10, 1), "webhook");
    await queueItems(db, items(100, 5, 1), "webhook");
    await check();
    const claimed = await claimBatch(db, 30, 60_000);
    await check();
    await settleDone(
      db,
      claimed.slice(0, 20).map((c) => c.id),
    );
    await settleFailed(
      db,
      claimed.slice(20, 25).map((c) => ({ id: c.id, error: "embedding API answered 400" })),
    );
    await returnToPending(
      db,
      claimed.slice(25).map((c) => ({ id: c.id, delayMs: 0 })),
    );
    await check();
    await retryFailedRows(db);
    await check();
    await db.update(embeddingQueue).set({ status: "done", updatedAt: sql`now() - interval '30 days'` }).where(sql`priority = 9`);
    expect(await deleteDoneRows(db)).toBe(25);
    await check();
    expect(await foldQueueCounts(db)).toBeGreaterThan(0);
    await check();
    await db.execute(sql`TRUNCATE embedding_queue`);
    expect(await queueCounts(db)).toEqual([]);
    await queueItems(db, items(0, 3, 3), "webhook");
    await check();
  });

  it.skipIf(!onRealPostgres)(`stay exact while writers, claims and folds run at once ${POSTGRES_ONLY}`, async () => {
    const { db } = connection;
    await db.execute(sql`TRUNCATE embedding_queue`);
    const writers = Array.from({ length: 6 }, (_, w) =>
      (async () => {
        for (let round = 0; round < 10; round++) {
          await queueItems(db, items(10_000 + w * 1000 + round * 20, 20, (w % 3) * 3 + 1), "webhook");
          const claimed = await claimBatch(db, 7, 60_000);
          await settleDone(
            db,
            claimed.map((c) => c.id),
          );
          if (round % 3 === 0) await foldQueueCounts(db);
        }
      })(),
    );
    await Promise.all(writers);
    expect(await queueCounts(db)).toEqual(await counted());
    const total = (await queueCounts(db)).reduce((n, c) => n + c.count, 0);
    expect(total).toBe(6 * 10 * 20);
  });
});
