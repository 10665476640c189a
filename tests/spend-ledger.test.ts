// The QStash spend ledger (functions/qstash/spend-ledger.ts): publishes and deliveries per UTC day, the
// schedules' reserve, the lanes' fallback to one drain call per five minutes, and the status page's word.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createFunctionApp } from "../functions/app";
import { loadConfig } from "../functions/config";
import type { Deps } from "../functions/deps";
import { routeChanges } from "../functions/enqueue/route-changes";
import { qstashPublisher } from "../functions/qstash/publisher";
import { firesPerDay } from "../functions/qstash/schedules";
import { bookPublish, spendCeiling, spendToday } from "../functions/qstash/spend-ledger";
import { communityPost, course, embeddingQueue, laneStates, qstashSpend } from "../schema";
import { type RunningEmulator, startEmulator } from "../scripts/qstash-emulator/http";
import { fakeServerEmbedder } from "../testing/fake-openai";
import { signedRequest } from "../testing/qstash-token";
import { testDeps } from "./support/deps";
import { emptyTables, useDatabaseAndApi } from "./support/fixtures";

const t = useDatabaseAndApi();
let emulator: RunningEmulator;
let deps: Deps;
const SITE = "http://127.0.0.1:9";
const env = { SITE_URL: SITE, QSTASH_TOKEN: "ledger-token", CHANGES_VIA: "enqueue", ADMIN_TOKEN: "ledger-admin" };
/** Noon UTC tomorrow: a drain call due five minutes after it is still to come while the test looks. */
const NOON = (Math.floor(Date.now() / 86_400_000) + 1) * 86_400_000 + 12 * 3_600_000;
const DAY = new Date(NOON).toISOString().slice(0, 10);
const NEXT_DAY = new Date(NOON + 86_400_000).toISOString().slice(0, 10);

beforeAll(async () => {
  emulator = await startEmulator({ token: "ledger-token", currentSigningKey: "sig_l", nextSigningKey: "sig_m", defaultRetries: 0 });
  emulator.emulator.faults = { failDelivery: () => true };
  const config = loadConfig({ ...env, QSTASH_URL: emulator.url, QSTASH_CURRENT_SIGNING_KEY: "sig_l", QSTASH_NEXT_SIGNING_KEY: "sig_m" });
  deps = testDeps(t.connection.db, { config, embedder: fakeServerEmbedder(t.api), publisher: qstashPublisher(config) });
});
afterAll(() => emulator.close());
beforeEach(() => emptyTables(t.connection.db, embeddingQueue, laneStates, qstashSpend));

const spentOn = async () => (await t.connection.db.select().from(qstashSpend))[0];

describe("spend ledger", () => {
  it("keeps the schedules' messages and the rest of the day's fallback out of the lanes' share (Free plan)", () => {
    const schedules = Math.ceil(firesPerDay("*/30 * * * *") + firesPerDay("0 2 * * *") + firesPerDay("0 3 * * 0"));
    expect(schedules).toBe(50);
    const own = 1000 - schedules - 10;
    expect(spendCeiling(deps.config, "fallback", NOON)).toBe(own);
    // Twelve hours left: 144 five-minute windows kept for the fallback.
    expect(spendCeiling(deps.config, "lane", NOON)).toBe(own - 144);
    // A day of 1,000 changes, one every 86.4 s: the lanes ring for the first ~900 of them.
    const ringing = Array.from({ length: 1000 }, (_, n) => NOON - 12 * 3_600_000 + n * 86_400).filter(
      (at, n) => n + 1 <= spendCeiling(deps.config, "lane", at),
    );
    expect(ringing.length).toBeGreaterThanOrEqual(900);
    const unlimited = loadConfig({ ...env, QSTASH_PLAN: "payg" });
    expect(spendCeiling(unlimited, "lane", NOON)).toBe(Number.POSITIVE_INFINITY);
  });

  it("books publishes atomically and refuses the one past the ceiling", async () => {
    const config = loadConfig({ ...env, QSTASH_DAILY_LIMIT: "70" }); // 70 - 50 - 10 = 10 for our own
    expect(spendCeiling(config, "fallback", NOON)).toBe(10);
    const answers = await Promise.all(Array.from({ length: 14 }, () => bookPublish(t.connection.db, config, 1, "fallback", NOON)));
    expect(answers.filter(Boolean)).toHaveLength(10);
    expect((await spentOn())!.publishRequests).toBe(10);
    // The next UTC day starts from zero.
    expect(await bookPublish(t.connection.db, config, 1, "fallback", NOON + 86_400_000)).toBe(true);
  });

  it("past the lanes' share, changes fall back to one drain call per five minutes, and the status page says so", async () => {
    const [c1, c2] = await t.connection.db
      .insert(course)
      .values([{ title: "Spent one" }, { title: "Spent two" }])
      .returning();
    const [post] = await t.connection.db.insert(communityPost).values({ title: "Spent post" }).returning();
    await t.connection.db.insert(qstashSpend).values({ day: DAY, publishRequests: spendCeiling(deps.config, "lane", NOON) });
    const first = await routeChanges(deps, [{ contentType: "course", contentId: c1!.id, priority: 1, op: "upsert" }], NOON);
    expect(first).toEqual([{ contentType: "course", contentId: c1!.id, lane: "database", fallback: true }]);
    const queued = [...emulator.emulator.messages.values()].filter((m) => m.url.endsWith("/drain"));
    expect(queued).toHaveLength(1);
    expect(queued[0]!.notBefore).toBe(NOON + 5 * 60_000);
    // The drain call is on its way: the next changes, whichever lane, publish nothing.
    const before = (await spentOn())!.publishRequests;
    await routeChanges(deps, [{ contentType: "course", contentId: c2!.id, priority: 1, op: "upsert" }], NOON + 1000);
    await routeChanges(deps, [{ contentType: "post", contentId: post!.id, priority: 3, op: "upsert" }], NOON + 2000);
    expect((await spentOn())!.publishRequests).toBe(before);
    for (const m of queued) emulator.emulator.cancel(m.messageId);

    const spend = await spendToday(t.connection.db, deps.config, NOON);
    expect(spend).toMatchObject({ lanesOnDrain: true, resetsAt: `${NEXT_DAY}T00:00:00.000Z`, dailyLimit: 1000, scheduleReserve: 50 });
    const app = createFunctionApp("status", { ...deps, clock: { now: () => NOON, sleep: async () => {} } });
    const page = await (await app.request("/api/embeddings/status", { headers: { authorization: "Bearer ledger-admin" } })).text();
    expect(page).toMatch(/the lanes' share is spent: changes wait for the drain .* until the day resets at /);
    expect(page).toContain(`${NEXT_DAY} 00:00:00 UTC`);
  });

  it("books each signed delivery, QStash's retries apart", async () => {
    const app = createFunctionApp("process-webhook", {
      ...deps,
      config: loadConfig({ ...env, QSTASH_CURRENT_SIGNING_KEY: "k", QSTASH_NEXT_SIGNING_KEY: "k", LANE_LINGER_MS: "0" }),
    });
    const url = `${SITE}/api/embeddings/process-webhook`;
    for (const retried of ["0", "1"]) {
      const request = await signedRequest(url, { doorbell: "queued" }, "k", { headers: { "upstash-retried": retried } });
      expect((await app.request(request)).status).toBe(200);
    }
    expect(await spentOn()).toMatchObject({ deliveries: 2, retried: 1 });
  });
});
