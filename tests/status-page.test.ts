// The status page as status.ts renders it, from the tables: every chart of the trends, the cost's daily
// series drawn against a daily budget, and text from the queue (an error message) escaped, never markup.
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BatchPoll } from "../functions/batch/settle";
import { rowsOf } from "../functions/db/database";
import { recordRun } from "../functions/db/job-runs";
import { utcDay } from "../functions/lib/utc-day";
import { processorStatus, queueStatus } from "../functions/status/read-status";
import { statusPage } from "../functions/status/status-page";
import { LAST_ROLLUP, readTrends } from "../functions/status/trends";
import { embeddingQueue, embeddingSpend } from "../schema";
import type { Connection } from "../scripts/lib/database";
import { freshDatabase } from "./support/database";
import { testDeps } from "./support/deps";

let connection: Connection;
beforeAll(async () => {
  connection = await freshDatabase();
});
afterAll(() => connection.close());

describe("the status page", () => {
  it("draws the trends with the cost a day against a daily budget, and escapes what the queue holds", async () => {
    const deps = testDeps(connection.db, { env: { EMBEDDING_BUDGET_USD: "0.05", EMBEDDING_BUDGET_PERIOD: "day" } });
    const now = Date.now();
    await connection.db.insert(embeddingQueue).values({
      contentType: "post",
      contentId: "x",
      status: "failed",
      attempts: 5,
      lastError: '<script>alert("owned")</script>',
    });
    await connection.db
      .insert(embeddingSpend)
      .values({ day: utcDay(now), model: "text-embedding-3-small", lane: "queued", tokens: 1_500_000, requests: 3, inputs: 40 });

    const trends = await readTrends(connection.db, deps.config, now);
    const usd = trends.daily.find((s) => s.id === "embedding-usd")!;
    // 1.5M tokens at 3-small's $0.02 per million.
    expect(usd.values.at(-1)).toBeCloseTo(0.03, 6);
    expect(usd.limit).toBe(0.05);
    expect(trends.daily.find((s) => s.id === "embedding-tokens")!.values.at(-1)).toBe(1_500_000);

    const page = String(await statusPage(await queueStatus(deps), await processorStatus(deps), trends));
    for (const id of ["backlog-24h", "latency-p95-7d", "daily-qstash-messages", "daily-embedding-tokens", "daily-embedding-usd"])
      expect(page).toContain(`id="${id}"`);
    expect(page).toContain("limit 0.05");
    expect(page).not.toContain("<script>alert");
    expect(page).toContain("&lt;script&gt;");
  });
});

describe("the Batch API's line", () => {
  it("says what the last batches run stored, how long its store waited for the live lanes, and what it left", async () => {
    const deps = testDeps(connection.db);
    const polled: BatchPoll[] = [{ id: 7, status: "completed", stored: 200, returned: 0, failed: 0, left: 9_800, yieldedMs: 12_500 }];
    await recordRun(connection.db, "batches", async () => ({ polled, submitted: [] }));
    const page = String(await statusPage(await queueStatus(deps), await processorStatus(deps)));
    expect(page).toContain(
      '<p id="batch-api">Batch API, last run: 0 batches sent (0 rows) · 1 polled, 200 rows stored, 9800 left for the next run · live first: the store waited 12.5 s for the live lanes</p>',
    );
  });
});

describe("the trends' rollup", () => {
  it("finds its last bucket through the primary key, not by sorting the rollup (every page read asks)", async () => {
    await connection.db.execute(sql`INSERT INTO status_rollup (bucket, lane, backlog)
      SELECT date_bin('5 minutes', now() - i * interval '5 minutes', TIMESTAMPTZ 'epoch'), lane, 1
      FROM generate_series(10, 5000) i, unnest(ARRAY['immediate', 'queued', 'database']) lane ON CONFLICT DO NOTHING`);
    await connection.db.execute(sql`ANALYZE status_rollup`);
    const plan = (await rowsOf<{ "QUERY PLAN": string }>(connection.db.execute(sql`EXPLAIN ${LAST_ROLLUP}`)))
      .map((r) => r["QUERY PLAN"])
      .join("\n");
    expect(plan).toContain("Index Scan Backward");
    expect(plan).not.toContain("Sort");
  });
});
