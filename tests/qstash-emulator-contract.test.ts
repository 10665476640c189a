// The emulator's rules where QStash's cost and latency are decided (issue 22, D1–D5 and the timer
// overflow), each through the official client against an emulator on a clock the test holds: no assertion
// here depends on how fast the machine is. The rules' sources are cited beside them in the emulator.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Client, QstashDailyRatelimitError, type QstashError } from "@upstash/qstash";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { emulatorBackoff } from "../scripts/lib/local-stack";
import { HeldClock, MAX_TIMER_MS } from "../scripts/qstash-emulator/clock";
import type { EmulatorOptions } from "../scripts/qstash-emulator/emulator";
import { type RunningEmulator, startEmulator } from "../scripts/qstash-emulator/http";
import { askedRetryMs, retryDelayMs } from "../scripts/qstash-emulator/retry";
import { waitFor } from "./support/wait-for";

type Arrival = { path: string; headers: IncomingHttpHeaders; res: ServerResponse };
let arrivals: Arrival[] = [];
/** How the target answers a request: by default at once with 200; a test may hold or fail it. */
let answer: (arrival: Arrival) => void = ({ res }) => res.writeHead(200).end("ok");
let target: string;
let closeTarget: () => void;

beforeAll(async () => {
  const server = createServer(async (req, res) => {
    for await (const _ of req);
    const arrival = { path: req.url!, headers: req.headers, res };
    arrivals.push(arrival);
    answer(arrival);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closeTarget = () => {
    server.closeAllConnections();
    server.close();
  };
});
afterAll(() => closeTarget());

let running: RunningEmulator | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
  arrivals = [];
  answer = ({ res }) => res.writeHead(200).end("ok");
});

/** An emulator on a held clock (QStash's back-off unless told), and the official client for it. */
async function held(options: Partial<EmulatorOptions> = {}) {
  const clock = new HeldClock();
  running = await startEmulator({ token: "t", currentSigningKey: "sig_a", nextSigningKey: "sig_b", clock, ...options });
  const client = new Client({ token: "t", baseUrl: running.url, devMode: false, enableTelemetry: false, retry: false });
  return { clock, emulator: running.emulator, url: running.url, client };
}

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: QstashError) => ({ status: error.status, message: error.message }),
  );

describe("D1: the daily meter", () => {
  it("counts publish requests, deduplicated ones too, and deliveries; refuses the next publish with 429 when either reaches the limit", async () => {
    const { clock, emulator, url, client } = await held({ limits: { messagesPerDay: 3 } });
    const first = await client.publishJSON({ url: `${target}/a`, body: {}, deduplicationId: "same", delay: 60 });
    // A duplicate is accepted with 202 and the first message's id (deduplication docs), and metered.
    const duplicate = await fetch(`${url}/v2/publish/${target}/a`, {
      method: "POST",
      headers: { authorization: "Bearer t", "upstash-deduplication-id": "same", "upstash-delay": "60s" },
    });
    expect(duplicate.status).toBe(202);
    expect(await duplicate.json()).toEqual({ messageId: first.messageId, deduplicated: true });
    await client.batchJSON([{ url: `${target}/b`, body: {}, delay: 60 }]);
    // Nothing delivered yet (the clock is held): the publish requests alone spend the day.
    expect(emulator.usageOn()).toEqual({ publishes: 3, deduplicated: 1, deliveries: 0 });
    const usage = await (await fetch(`${url}/emulator/usage`, { headers: { authorization: "Bearer t" } })).json();
    expect(usage).toMatchObject({ day: "2026-01-05", limit: 3, publishes: 3, deduplicated: 1, deliveries: 0, remaining: 0 });
    const error = await client.publishJSON({ url: `${target}/c`, body: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QstashDailyRatelimitError);
    expect(error).toMatchObject({ status: 429, limit: "3", remaining: "0", reset: String(Date.UTC(2026, 0, 6) / 1000) });

    // The deliveries are metered on their own day; a new UTC day starts a new meter.
    clock.advance(86_400_000);
    await waitFor(() => emulator.messagesOn() === 2, 5000, "the two messages' deliveries");
    expect(emulator.usageOn()).toEqual({ publishes: 0, deduplicated: 0, deliveries: 2 });
    await client.publishJSON({ url: `${target}/c`, body: {} });
    expect(emulator.usageOn().publishes).toBe(1);
  });

  it("meters a schedule's trigger as a publish request and its delivery as a delivery", async () => {
    const { clock, emulator, client } = await held();
    await client.schedules.create({ scheduleId: "tick", destination: `${target}/tick`, cron: "*/5 * * * *" });
    clock.advance(5 * 60_000);
    await waitFor(() => emulator.messagesOn() === 1, 5000, "the schedule's delivery");
    expect(emulator.usageOn()).toEqual({ publishes: 1, deduplicated: 0, deliveries: 1 });
  });
});

describe("D2: the account's deliveries in flight", () => {
  it("holds the Free plan to 10 at once, delays the rest (none refused), and reports it on /v2/globalParallelism", async () => {
    const { clock, emulator, client } = await held();
    let inFlight = 0;
    let most = 0;
    const holding: Arrival[] = [];
    answer = (arrival) => {
      most = Math.max(most, ++inFlight);
      holding.push(arrival);
    };
    const release = () => {
      for (const { res } of holding.splice(0)) {
        inFlight--;
        res.writeHead(200).end();
      }
    };
    await client.batchJSON(Array.from({ length: 15 }, (_, n) => ({ url: `${target}/p${n}`, body: {} })));
    // All fifteen are due at once: ten take a place, five wait for one.
    clock.advance(0);
    expect(await client.flowControl.getGlobalParallelism()).toEqual({ parallelismMax: 10, parallelismCount: 10 });
    await waitFor(() => arrivals.length === 10, 5000, "ten deliveries in flight");
    release();
    await waitFor(() => {
      release();
      return arrivals.length === 15 && emulator.messages.size === 0;
    }, 5000);
    expect(most).toBeLessThanOrEqual(10);
    expect(emulator.deliveries.every((d) => d.status === 200)).toBe(true);
    expect(await client.flowControl.getGlobalParallelism()).toEqual({ parallelismMax: 10, parallelismCount: 0 });
  });

  it("gives pay-as-you-go 100 and Fixed 1M 200", async () => {
    const payg = await held({ plan: "payg" });
    expect(payg.emulator.globalParallelism().parallelismMax).toBe(100);
    await running?.close();
    const fixed = await held({ plan: "fixed1m" });
    expect(fixed.emulator.globalParallelism().parallelismMax).toBe(200);
  });
});

/** Waits until the emulator has recorded `n` attempts and armed what comes next (a retry's wait). */
const settled = (emulator: RunningEmulator["emulator"], clock: HeldClock, n: number) =>
  waitFor(() => emulator.deliveries.length === n && clock.pending > 0, 5000, `attempt ${n} recorded and the next armed`);

describe("D3 and D4: when a failed delivery is tried again", () => {
  it("waits QStash's back-off by default: 12 s, 2 min 28 s, 30 min 8 s", async () => {
    const { clock, emulator, client } = await held();
    answer = ({ res }) => res.writeHead(500).end();
    await client.publishJSON({ url: `${target}/failing`, body: {} });
    clock.advance(0);
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      await settled(emulator, clock, attempt);
      const wait = clock.nextDue()!;
      waits.push(wait);
      clock.advance(wait - 1);
      expect(emulator.deliveries).toHaveLength(attempt); // not a millisecond early
      clock.advance(1);
    }
    await waitFor(() => emulator.deliveries.length === 4 && emulator.dlq.size === 1, 5000, "the last attempt, then the DLQ");
    expect(waits.map((ms) => Math.round(ms / 1000))).toEqual([12, 148, 1808]);
    expect(emulator.deliveries.map((d) => d.retried)).toEqual([0, 1, 2, 3]);
  });

  it("honours the destination's Retry-After (seconds, a Go duration, a date), and the back-off past a day", async () => {
    const { clock, emulator, client } = await held();
    const asked = ["30", "1m30s", "90000"];
    answer = ({ res }) => {
      const next = asked.shift();
      if (next) res.writeHead(503, { "Retry-After": next }).end();
      else res.writeHead(200).end();
    };
    await client.publishJSON({ url: `${target}/limited`, body: {} });
    clock.advance(0);
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      await settled(emulator, clock, attempt);
      waits.push(clock.nextDue()!);
      clock.advance(clock.nextDue()!);
    }
    await waitFor(() => emulator.deliveries.at(-1)?.status === 200, 5000);
    // 30 s and 90 s as asked; 25 h is past the day QStash allows, so retry 3's back-off (e^7.5 s) applies.
    expect(waits.map(Math.round)).toEqual([30_000, 90_000, Math.round(Math.exp(7.5) * 1000)]);
    expect(askedRetryMs(new Headers({ "Retry-After": new Date(Date.UTC(2026, 0, 5, 0, 0, 45)).toUTCString() }), Date.UTC(2026, 0, 5))).toBe(
      45_000,
    );
    expect(askedRetryMs(new Headers({ "X-RateLimit-Reset-Requests": "6m5s" }), 0)).toBe(365_000);
    expect(askedRetryMs(new Headers({ "Retry-After": "0" }), 0)).toBe(0);
    expect(askedRetryMs(new Headers({ "Retry-After": "soon" }), 0)).toBeUndefined();
  });

  it("keeps the named fast mode's retries in QStash's order and short, Retry-After included", () => {
    expect([1, 2, 3, 4].map((n) => Math.round(retryDelayMs("fast", n, undefined)))).toEqual([12, 148, 250, 250]);
    expect(retryDelayMs("fast", 1, 30_000)).toBe(30);
    expect(retryDelayMs("qstash", 1, 30_000)).toBe(30_000);
    expect(retryDelayMs(() => 7, 1, undefined)).toBe(7);
  });

  it("gives npm start QStash's back-off unless QSTASH_EMULATOR_BACKOFF=fast", () => {
    expect(emulatorBackoff({})).toBe("qstash");
    expect(emulatorBackoff({ QSTASH_EMULATOR_BACKOFF: "fast" })).toBe("fast");
  });
});

describe("D5: crons", () => {
  it("refuses a cron with seconds as QStash does; fires a 5-field cron on the minute, in UTC or CRON_TZ's zone", async () => {
    const { clock, client } = await held();
    expect(await refusal(client.schedules.create({ destination: `${target}/s`, cron: "* * * * * *" }))).toEqual({
      status: 400,
      message: '{"error":"Invalid cron expression expected exactly 5 fields, found 6: [* * * * * *]"}',
    });
    expect(
      (await refusal(client.schedules.create({ destination: `${target}/s`, cron: "CRON_TZ=Mars/Olympus 0 4 * * *" })))?.message,
    ).toMatch(/Invalid cron expression provided bad location Mars\/Olympus/);
    // The held clock starts at 2026-01-05 00:00 UTC: 04:00 in New York is 09:00 UTC.
    await client.schedules.create({ scheduleId: "ny", destination: `${target}/ny`, cron: "CRON_TZ=America/New_York 0 4 * * *" });
    await client.schedules.create({ scheduleId: "minute", destination: `${target}/minute`, cron: "* * * * *" });
    clock.advance(59_999);
    expect(arrivals).toHaveLength(0);
    clock.advance(1);
    const tick = await waitFor(() => arrivals.find((a) => a.path === "/minute"), 5000);
    expect(tick.headers["upstash-schedule-id"]).toBe("minute");
    await client.schedules.delete("minute");
    clock.advance(9 * 3_600_000 - 60_001);
    expect(arrivals.filter((a) => a.path === "/ny")).toHaveLength(0);
    clock.advance(1);
    await waitFor(() => arrivals.some((a) => a.path === "/ny"), 5000);
  });
});

describe("a not-before beyond 24.8 days", () => {
  it("waits in a few chunks no longer than a timer can hold, and delivers then", async () => {
    const { clock, emulator, client } = await held({ plan: "payg" });
    const thirtyDays = 30 * 86_400_000;
    const armedBefore = clock.armed.length;
    await client.publishJSON({ url: `${target}/later`, body: {}, notBefore: (clock.now() + thirtyDays) / 1000 });
    clock.advance(thirtyDays - 1);
    expect(emulator.deliveries).toHaveLength(0);
    clock.advance(1);
    await waitFor(() => arrivals.length === 1, 5000);
    const armed = clock.armed.slice(armedBefore);
    expect(Math.max(...armed)).toBeLessThanOrEqual(MAX_TIMER_MS);
    expect(armed).toEqual([MAX_TIMER_MS, thirtyDays - MAX_TIMER_MS]);
  });
});

describe("flow control's rate", () => {
  it("holds the key's rate per period: the third of three at 2 a second waits for the next second", async () => {
    const { clock, emulator, client } = await held();
    await client.batchJSON(
      [0, 1, 2].map(() => ({ url: `${target}/rate`, body: {}, flowControl: { key: "two-a-second", rate: 2, period: "1s" } })),
    );
    clock.advance(0);
    await waitFor(() => emulator.deliveries.length === 2, 5000, "the first window's two");
    expect(clock.nextDue()).toBe(1000);
    clock.advance(999);
    expect(emulator.messages.size).toBe(1);
    clock.advance(1);
    await waitFor(() => emulator.deliveries.length === 3, 5000, "the third, in the next window");
  });
});
