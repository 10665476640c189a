// Alerts (functions/status/alerts.ts) on a clock the test holds, through the alerts function over
// HTTP, delivered by the official @upstash/qstash client through our QStash emulator to a webhook that
// records what it is sent: a stalled lane alerts within two minutes and recovers within two minutes of
// the fix, each message once; the other conditions fire and clear the same way.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { checkAlerts } from "../functions/alerts";
import { createFunctionApp } from "../functions/app";
import { dropHnswIndex, restoreHnswIndex } from "../functions/db/hnsw-index";
import { endpointUrl } from "../functions/endpoints";
import { utcDay } from "../functions/lib/utc-day";
import { course } from "../schema";
import { alertState, embeddingBudget, embeddingQueue, qstashSpend } from "../schema/pipeline-tables";
import { FakeClock } from "../testing/fake-clock";
import { qstashToken } from "../testing/qstash-token";
import { startTestStack, type TestStack } from "./support/stack";
import { waitFor } from "./support/wait-for";

let stack: TestStack;
let webhook: Server;
const received: { text: string; at: number }[] = [];
let hookUrl: string;

beforeAll(async () => {
  webhook = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      received.push({ text: (JSON.parse(body) as { text: string }).text, at: Date.now() });
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, "127.0.0.1", resolve));
  // A secret in its path, as Slack's are.
  hookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/services/T000/B000/s3cr3t-hook-token`;
  stack = await startTestStack({ env: { ALERT_WEBHOOK_URL: hookUrl, QSTASH_PLAN: "payg" } });
});
afterAll(async () => {
  await stack?.close();
  await new Promise((resolve) => webhook?.close(resolve));
});

/** One run of the alert check at the held clock's time, as its schedule calls it (signed, over HTTP). */
async function check(clock: FakeClock) {
  const app = createFunctionApp("alerts", { ...stack.deps, clock });
  const url = endpointUrl(stack.config.siteUrl!, "alerts");
  const response = await app.request(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "upstash-signature": await qstashToken(stack.config.qstash.currentSigningKey!, url, "{}"),
    },
    body: "{}",
  });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(text).not.toContain("s3cr3t");
  return JSON.parse(text) as Awaited<ReturnType<typeof checkAlerts>>;
}

describe("alerts", () => {
  it("a stalled lane alerts within two minutes, and recovers within two minutes of the fix, each once", async () => {
    const { db } = stack.connection;
    // The injected delay: a change to the immediate lane whose doorbell never rings (the stack forwards
    // no trigger notification to enqueue here), so nothing serves it until the fix.
    const [created] = await db.insert(course).values({ title: "Stalled course" }).returning({ id: course.id });
    const [row] = await db.select().from(embeddingQueue).where(eq(embeddingQueue.contentId, created!.id));
    expect(row).toMatchObject({ status: "pending", priority: 2 });
    const injected = row!.createdAt.getTime();
    const clock = new FakeClock(injected);
    const checks: { at: number; firing: string[]; sent: string[] }[] = [];
    // The schedule's minutes fall anywhere against the change: the first 5 s after it.
    clock.time = injected + 5_000;
    for (let i = 0; i < 3; i++) {
      checks.push({ at: clock.now() - injected, ...(await check(clock)) });
      clock.time += 60_000;
    }
    const fired = checks.find((c) => c.sent.includes("lane-late:immediate"));
    expect(fired, JSON.stringify(checks)).toBeDefined();
    expect(fired!.at).toBeLessThanOrEqual(120_000);
    await waitFor(() => received.length === 1, 30_000, "the alert's delivery");
    expect(received[0]!.text).toMatch(
      /^:rotating_light: Embeddings alert: immediate lane late: the oldest change in the immediate lane has waited/,
    );
    expect(received[0]!.text).not.toContain("s3cr3t");

    // Another check while it still holds sends nothing more.
    expect((await check(clock)).sent).toEqual([]);

    // The fix: the drain serves the lane.
    const fixedAt = clock.now();
    await stack.trigger("drain");
    await waitFor(
      async () => (await db.select().from(embeddingQueue).where(eq(embeddingQueue.contentId, created!.id)))[0]?.status === "done",
      30_000,
      "the drain to serve the stalled change",
    );
    clock.time += 60_000;
    const after = await check(clock);
    expect(after.sent).toEqual(["lane-late:immediate"]);
    expect(after.firing).not.toContain("lane-late:immediate");
    expect(clock.now() - fixedAt).toBeLessThanOrEqual(120_000);
    await waitFor(() => received.length === 2, 30_000, "the recovery's delivery");
    expect(received[1]!.text).toMatch(/^:white_check_mark: Embeddings recovered: immediate lane late/);
    clock.time += 60_000;
    expect((await check(clock)).sent).toEqual([]);
    // QStash was handed each message with a deduplication id: a second publish of one would be dropped.
    expect(received).toHaveLength(2);
  }, 240_000);

  it("fires and clears a missing HNSW index, a failure spike, a QStash day and a budget nearly spent", async () => {
    const { db } = stack.connection;
    await db.delete(alertState);
    received.length = 0;
    const clock = new FakeClock(Date.now());
    await dropHnswIndex(db);
    await db.insert(embeddingQueue).values(
      Array.from({ length: 10 }, (_, i) => ({
        contentType: "post",
        contentId: `broken-${i}`,
        priority: 4,
        status: "failed" as const,
        lastError: "embedding API answered 400",
        updatedAt: new Date(clock.now()),
      })),
    );
    // payg has no daily limit: a day's limit given outright, 95% of it spent; a daily budget of 1,000
    // tokens, 850 spent (the batched lane's 80% share closed).
    const limited = {
      ...stack.deps,
      config: {
        ...stack.config,
        qstash: { ...stack.config.qstash, dailyLimit: 10_000 },
        cost: { ...stack.config.cost, budget: { tokens: 1_000, period: "day" as const } },
      },
    };
    await db.insert(embeddingBudget).values({ period: utcDay(clock.now()), tokens: 850 });
    await db
      .insert(qstashSpend)
      .values({ day: utcDay(clock.now()), publishRequests: 9_500 })
      .onConflictDoUpdate({ target: qstashSpend.day, set: { publishRequests: 9_500 } });
    const run = async () => {
      const app = createFunctionApp("alerts", { ...limited, clock });
      const url = endpointUrl(stack.config.siteUrl!, "alerts");
      const response = await app.request(url, {
        method: "POST",
        headers: { "upstash-signature": await qstashToken(stack.config.qstash.currentSigningKey!, url, "{}") },
        body: "{}",
      });
      return (await response.json()) as { firing: string[]; sent: string[] };
    };
    expect((await run()).sent).toEqual([]);
    clock.time += 60_000;
    expect((await run()).sent.sort()).toEqual(["budget", "failures", "hnsw-index", "qstash-day"]);
    await waitFor(() => received.length === 4, 30_000, "four alerts");
    expect(received.map((r) => r.text).join("\n")).toMatch(/HNSW index missing/);
    expect(received.map((r) => r.text).join("\n")).toMatch(
      /embedding budget nearly spent: 850 of 1000 tokens spent this day; paused until .*: the database lane/,
    );

    await restoreHnswIndex(db);
    await db.update(embeddingQueue).set({ updatedAt: sql`now() - interval '1 hour'` }).where(eq(embeddingQueue.status, "failed"));
    await db.update(qstashSpend).set({ publishRequests: 100 });
    await db.update(embeddingBudget).set({ tokens: 100 });
    clock.time += 60_000;
    expect((await run()).sent.sort()).toEqual(["budget", "failures", "hnsw-index", "qstash-day"]);
    await waitFor(() => received.length === 8, 30_000, "four recoveries");
    expect(received.slice(4).every((r) => r.text.startsWith(":white_check_mark:"))).toBe(true);
  });
});
