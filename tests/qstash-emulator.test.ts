import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { Client, QstashDailyRatelimitError, type QstashError, Receiver } from "@upstash/qstash";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { EmulatorOptions } from "../scripts/qstash-emulator/emulator";
import { type RunningEmulator, startEmulator } from "../scripts/qstash-emulator/http";
import { waitFor } from "./support/wait-for";

type Received = { path: string; headers: IncomingHttpHeaders; body: string; at: number };
let emulator: RunningEmulator;
let client: Client;
let target: string;
let received: Received[] = [];
let answer = 200;
let close: () => void;
const keys = { currentSigningKey: "sig_current_test", nextSigningKey: "sig_next_test" };

beforeAll(async () => {
  emulator = await startEmulator({ token: "emulator-token", ...keys, backoff: "fast" });
  client = new Client({ token: "emulator-token", baseUrl: emulator.url, devMode: false, enableTelemetry: false });
  const server = createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    received.push({ path: req.url!, headers: req.headers, body: Buffer.concat(parts).toString(), at: Date.now() });
    res.writeHead(answer).end("answer body");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => {
    server.closeAllConnections();
    server.close();
  };
});
afterAll(async () => {
  close();
  await emulator.close();
});
beforeEach(() => {
  received = [];
  answer = 200;
});

describe("the QStash emulator", () => {
  it("delivers a publish signed so that the official Receiver verifies it", async () => {
    const { messageId } = await client.publishJSON({
      url: `${target}/hook?x=1`,
      body: { hello: "world" },
      headers: { "X-Custom": "kept" },
    });
    const [delivery] = await waitFor(() => received.length && received, 2000);
    expect(delivery!.path).toBe("/hook?x=1");
    expect(delivery!.headers["upstash-message-id"]).toBe(messageId);
    expect(delivery!.headers["upstash-retried"]).toBe("0");
    expect(delivery!.headers["x-custom"]).toBe("kept");
    const receiver = new Receiver({ ...keys, devMode: false });
    const signature = delivery!.headers["upstash-signature"] as string;
    await expect(receiver.verify({ signature, body: delivery!.body, url: `${target}/hook?x=1` })).resolves.toBe(true);
    await expect(receiver.verify({ signature, body: `${delivery!.body} `, url: `${target}/hook?x=1` })).rejects.toThrow(/body hash/);
    await expect(receiver.verify({ signature, body: delivery!.body, url: `${target}/other` })).rejects.toThrow(/subject/);
    await expect(
      new Receiver({ currentSigningKey: "a", nextSigningKey: "b", devMode: false }).verify({ signature, body: delivery!.body }),
    ).rejects.toThrow();
  });

  it("refuses a wrong token", async () => {
    const stranger = new Client({ token: "wrong", baseUrl: emulator.url, devMode: false, enableTelemetry: false, retry: false });
    await expect(stranger.publishJSON({ url: `${target}/x`, body: {} })).rejects.toThrow(/401|token/);
  });

  it("delivers a delayed or not-before message no earlier than asked", async () => {
    const published = Date.now();
    await client.publishJSON({ url: `${target}/delayed`, body: {}, delay: 1 });
    const notBefore = Math.ceil(Date.now() / 1000) + 1;
    await client.publishJSON({ url: `${target}/not-before`, body: {}, notBefore });
    await waitFor(() => received.length === 2, 4000);
    const arrived = (path: string) => received.find((r) => r.path === path)!.at;
    // Lower bounds only, against the times asked for: how late a busy machine delivers is not the rule.
    expect(arrived("/delayed")).toBeGreaterThanOrEqual(published + 1000);
    expect(arrived("/not-before")).toBeGreaterThanOrEqual(notBefore * 1000);
  });

  it("honours deduplication ids and content-based deduplication", async () => {
    const first = await client.publishJSON({ url: `${target}/dedup`, body: { n: 1 }, deduplicationId: "same", delay: 1 });
    const second = await client.publishJSON({ url: `${target}/dedup`, body: { n: 2 }, deduplicationId: "same", delay: 1 });
    expect(second.messageId).toBe(first.messageId);
    await client.publishJSON({ url: `${target}/content`, body: { n: 3 }, contentBasedDeduplication: true });
    await client.publishJSON({ url: `${target}/content`, body: { n: 3 }, contentBasedDeduplication: true });
    await new Promise((r) => setTimeout(r, 1500));
    expect(received.filter((r) => r.path === "/dedup")).toHaveLength(1);
    expect(received.filter((r) => r.path === "/content")).toHaveLength(1);
  });

  it("retries with backoff, then moves the message to the DLQ and calls the failure callback", async () => {
    answer = 500;
    await client.publishJSON({ url: `${target}/failing`, body: { id: 7 }, retries: 2, failureCallback: `${target}/failed` });
    const callback = await waitFor(() => received.find((r) => r.path === "/failed"), 3000);
    expect(received.filter((r) => r.path === "/failing").map((r) => r.headers["upstash-retried"])).toEqual(["0", "1", "2"]);
    const payload = JSON.parse(callback.body);
    expect(payload).toMatchObject({ status: 500, retried: 2, maxRetries: 2 });
    expect(Buffer.from(payload.sourceBody, "base64").toString()).toBe('{"id":7}');
    expect(Buffer.from(payload.body, "base64").toString()).toBe("answer body");
    // The callback is signed for its own URL.
    const receiver = new Receiver({ ...keys, devMode: false });
    await expect(
      receiver.verify({ signature: callback.headers["upstash-signature"] as string, body: callback.body, url: `${target}/failed` }),
    ).resolves.toBe(true);
    const dlq = await client.dlq.listMessages();
    const entry = dlq.messages.find((m) => m.url === `${target}/failing`)!;
    expect(entry).toBeDefined();
    await client.dlq.delete(entry.dlqId);
    expect((await client.dlq.listMessages()).messages.find((m) => m.dlqId === entry.dlqId)).toBeUndefined();
  });

  it("runs a queue no more in parallel than its parallelism, and holds it while paused", async () => {
    const queue = client.queue({ queueName: "q1" });
    await queue.upsert({ parallelism: 1, paused: true });
    expect(await queue.get()).toMatchObject({ name: "q1", parallelism: 1, paused: true });
    let inFlight = 0;
    let most = 0;
    emulator.emulator.faults = {};
    const slow = createServer(async (_req, res) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 30));
      inFlight--;
      res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", resolve));
    const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/slow`;
    await client.batchJSON(Array.from({ length: 4 }, (_, n) => ({ url: slowUrl, body: { n }, queueName: "q1" })));
    await new Promise((r) => setTimeout(r, 200));
    expect(most).toBe(0);
    await queue.resume();
    await waitFor(() => emulator.emulator.deliveries.filter((d) => d.url === slowUrl).length === 4, 3000);
    expect(most).toBe(1);
    slow.closeAllConnections();
    slow.close();
  });

  it("fires schedules signed, with the schedule id; updates them by id", async () => {
    // When a cron fires is proved on a held clock (qstash-emulator-contract.test.ts); here a run is asked for.
    const { scheduleId } = await client.schedules.create({
      scheduleId: "every-minute",
      destination: `${target}/tick`,
      cron: "* * * * *",
      body: "{}",
    });
    await client.schedules.create({ scheduleId: "every-minute", destination: `${target}/tick`, cron: "* * * * *", body: "{}" });
    expect((await client.schedules.list()).filter((s) => s.scheduleId === "every-minute")).toHaveLength(1);
    emulator.emulator.fire(emulator.emulator.schedules.get(scheduleId)!);
    const tick = await waitFor(() => received.find((r) => r.path === "/tick"), 2500);
    expect(tick.headers["upstash-schedule-id"]).toBe(scheduleId);
    const receiver = new Receiver({ ...keys, devMode: false });
    await expect(
      receiver.verify({ signature: tick.headers["upstash-signature"] as string, body: tick.body, url: `${target}/tick` }),
    ).resolves.toBe(true);
    await client.schedules.pause({ schedule: scheduleId });
    expect((await client.schedules.get(scheduleId)).isPaused).toBe(true);
    await client.schedules.delete(scheduleId);
    await expect(client.schedules.get(scheduleId)).rejects.toThrow();
  });

  it("lets a message be read and cancelled before delivery", async () => {
    const { messageId } = await client.publishJSON({ url: `${target}/cancelled`, body: {}, delay: 2 });
    expect(await client.messages.get(messageId)).toMatchObject({ messageId, url: `${target}/cancelled` });
    await client.messages.cancel(messageId);
    await new Promise((r) => setTimeout(r, 2200));
    expect(received.filter((r) => r.path === "/cancelled")).toHaveLength(0);
  });

  it("refuses publishes while told to, for fault tests", async () => {
    emulator.emulator.faults = { refusePublish: true };
    const strict = new Client({ token: "emulator-token", baseUrl: emulator.url, devMode: false, enableTelemetry: false, retry: false });
    await expect(strict.publishJSON({ url: `${target}/refused`, body: {} })).rejects.toThrow(/refused/);
    emulator.emulator.faults = {};
  });
});

/** A second emulator with other plan limits, and a client for it; closed by the caller. */
async function emulatorWith(options: Partial<EmulatorOptions>) {
  const other = await startEmulator({ token: "other-token", ...keys, backoff: "fast", ...options });
  const otherClient = new Client({ token: "other-token", baseUrl: other.url, devMode: false, enableTelemetry: false, retry: false });
  return { other, otherClient };
}

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: QstashError) => ({ status: error.status, message: error.message }),
  );

describe("the QStash emulator enforces what the real service refuses", () => {
  it("refuses a deduplication id with ':' with QStash's 400 and message, in a publish and a whole batch", async () => {
    expect(await refusal(client.publishJSON({ url: `${target}/colon`, body: {}, deduplicationId: "course:42" }))).toEqual({
      status: 400,
      message: `{"error":"DeduplicationId cannot contain ':'"}`,
    });
    expect(
      await refusal(
        client.batchJSON([
          { url: `${target}/colon`, body: {}, deduplicationId: "fine_1-2" },
          { url: `${target}/colon`, body: {}, deduplicationId: "course:42:1:end" },
        ]),
      ),
    ).toMatchObject({ status: 400, message: expect.stringContaining("DeduplicationId cannot contain ':'") });
    await client.publishJSON({ url: `${target}/colon`, body: {}, deduplicationId: "course_42_1_end-x" });
    await waitFor(() => received.length === 1, 2000);
    expect(received.map((r) => r.path)).toEqual(["/colon"]);
  });

  it("refuses delay and not-before on an enqueue into a queue, but not on a publish", async () => {
    const queue = client.queue({ queueName: "no-delay" });
    expect((await refusal(queue.enqueueJSON({ url: `${target}/q`, body: {}, delay: 1 })))?.status).toBe(400);
    expect(
      await refusal(
        client.batchJSON([{ url: `${target}/q`, body: {}, queueName: "no-delay", notBefore: Math.ceil(Date.now() / 1000) + 1 }]),
      ),
    ).toMatchObject({ status: 400, message: expect.stringMatching(/not supported for enqueue/) });
    await queue.enqueueJSON({ url: `${target}/q`, body: {} });
    await waitFor(() => received.length === 1, 2000);
  });

  it("caps queue parallelism and the number of queues at the Free plan's 2 and 10 with 412; pay-as-you-go allows 10", async () => {
    expect(await refusal(client.queue({ queueName: "wide" }).upsert({ parallelism: 5 }))).toMatchObject({
      status: 412,
      message: expect.stringMatching(/maximum queue parallelism of 2/),
    });
    expect(await refusal(client.queue({ queueName: "zero" }).upsert({ parallelism: 0 }))).toMatchObject({ status: 400 });
    await client.queue({ queueName: "narrow" }).upsert({ parallelism: 2 });
    const { other, otherClient } = await emulatorWith({ plan: "payg" });
    try {
      await otherClient.queue({ queueName: "wide" }).upsert({ parallelism: 10 });
      expect((await refusal(otherClient.queue({ queueName: "wider" }).upsert({ parallelism: 11 })))?.status).toBe(412);
    } finally {
      await other.close();
    }
    const { other: free, otherClient: freeClient } = await emulatorWith({});
    try {
      for (let n = 0; n < 10; n++) await freeClient.queue({ queueName: `q${n}` }).upsert({ parallelism: 1 });
      expect(await refusal(freeClient.queue({ queueName: "q10" }).upsert({ parallelism: 1 }))).toMatchObject({
        status: 412,
        message: expect.stringMatching(/allows 10 queues/),
      });
      // An enqueue that would create an eleventh queue is refused too, and in a batch only that message.
      expect((await refusal(freeClient.queue({ queueName: "q10" }).enqueueJSON({ url: `${target}/q`, body: {} })))?.status).toBe(412);
      const answers = await freeClient.batchJSON([
        { url: `${target}/q`, body: {}, queueName: "q11" },
        { url: `${target}/q`, body: {}, queueName: "q1" },
      ]);
      expect(answers[0]).toEqual({ error: expect.stringMatching(/allows 10 queues/) });
      expect(answers[1]).toHaveProperty("messageId");
      // Updating one of the ten stays allowed.
      await freeClient.queue({ queueName: "q3" }).upsert({ parallelism: 2 });
    } finally {
      await free.close();
    }
  });

  it("refuses an eleventh schedule on the Free plan, and updating one by id is not a new one", async () => {
    const { other, otherClient } = await emulatorWith({});
    try {
      for (let n = 0; n < 10; n++)
        await otherClient.schedules.create({ scheduleId: `s${n}`, destination: `${target}/s`, cron: "0 0 1 1 *" });
      await otherClient.schedules.create({ scheduleId: "s0", destination: `${target}/s`, cron: "0 0 2 1 *" });
      expect(
        await refusal(otherClient.schedules.create({ scheduleId: "s10", destination: `${target}/s`, cron: "0 0 1 1 *" })),
      ).toMatchObject({ status: 412 });
    } finally {
      await other.close();
    }
  });

  it("counts every delivery attempt against the daily limit (beside publish requests) and then answers 429 as QstashDailyRatelimitError", async () => {
    const { other, otherClient } = await emulatorWith({ limits: { messagesPerDay: 3 } });
    try {
      answer = 500;
      await otherClient.publishJSON({ url: `${target}/billed`, body: {}, retries: 1 });
      // An attempt is billed once its answer is in, a moment after the target has the request.
      await waitFor(() => other.emulator.messagesOn() === 2, 2000, "two attempts billed");
      expect(received).toHaveLength(2);
      expect(other.emulator.usageOn()).toEqual({ publishes: 1, deduplicated: 0, deliveries: 2 });
      answer = 200;
      await otherClient.publishJSON({ url: `${target}/billed`, body: {} });
      await waitFor(() => other.emulator.messagesOn() === 3, 2000);
      const error = await otherClient.publishJSON({ url: `${target}/billed`, body: {} }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(QstashDailyRatelimitError);
      expect(error).toMatchObject({ status: 429, limit: "3", remaining: "0" });
      expect((await refusal(otherClient.batchJSON([{ url: `${target}/billed`, body: {} }])))?.status).toBe(429);
    } finally {
      await other.close();
    }
  });

  it("gives a message at most the plan's retries (Free: 3), and that many when it names none", async () => {
    const { messageId } = await client.publishJSON({ url: `${target}/capped`, body: {}, retries: 10, delay: 5 });
    expect((await client.messages.get(messageId)).maxRetries).toBe(3);
    await client.messages.cancel(messageId);
  });

  it("keeps a queue FIFO: a failing message holds its slot through its retries", async () => {
    let failures = 2;
    const { other, otherClient } = await emulatorWith({});
    const server = createServer(async (req, res) => {
      for await (const _ of req);
      const failing = req.url === "/first" && failures-- > 0;
      received.push({ path: req.url!, headers: req.headers, body: "", at: Date.now() });
      res.writeHead(failing ? 500 : 200).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await otherClient.batchJSON(["first", "second", "third"].map((name) => ({ url: `${url}/${name}`, body: {}, queueName: "fifo" })));
      await waitFor(() => received.length === 5, 3000);
      expect(received.map((r) => `${r.path}#${r.headers["upstash-retried"]}`)).toEqual([
        "/first#0",
        "/first#1",
        "/first#2",
        "/second#0",
        "/third#0",
      ]);
    } finally {
      server.closeAllConnections();
      server.close();
      await other.close();
    }
  });

  it("answers a batch per message: a refused one does not stop the others", async () => {
    emulator.emulator.faults = { refuseMessage: (m) => m.body.includes('"n":1') };
    const answers = await client.batchJSON([0, 1, 2].map((n) => ({ url: `${target}/each`, body: { n } })));
    emulator.emulator.faults = {};
    expect(answers.map((a) => ("error" in a ? "error" : "sent"))).toEqual(["sent", "error", "sent"]);
    await waitFor(() => received.length === 2, 2000);
    expect(received.map((r) => JSON.parse(r.body).n).sort()).toEqual([0, 2]);
  });

  it("stops retrying at 489 with Upstash-NonRetryable-Error: true, straight to the DLQ and the failure callback", async () => {
    const { other, otherClient } = await emulatorWith({});
    const server = createServer(async (req, res) => {
      for await (const _ of req);
      received.push({ path: req.url!, headers: req.headers, body: "", at: Date.now() });
      res.writeHead(489, req.url === "/permanent" ? { "Upstash-NonRetryable-Error": "true" } : {}).end("no");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await otherClient.publishJSON({ url: `${url}/permanent`, body: {}, retries: 3, failureCallback: `${url}/failed` });
      await otherClient.publishJSON({ url: `${url}/plain489`, body: {}, retries: 2 });
      await waitFor(() => received.filter((r) => r.path === "/plain489").length === 3 && received.some((r) => r.path === "/failed"), 3000);
      expect(received.filter((r) => r.path === "/permanent")).toHaveLength(1);
      expect((await otherClient.dlq.listMessages()).messages.map((m) => m.url).sort()).toEqual([`${url}/permanent`, `${url}/plain489`]);
    } finally {
      server.closeAllConnections();
      server.close();
      await other.close();
    }
  });

  it("retries a DLQ message with dlq.retry: delivered again and gone from the DLQ", async () => {
    answer = 500;
    await client.publishJSON({ url: `${target}/dead`, body: { x: 1 }, retries: 0 });
    const entry = await waitFor(async () => (await client.dlq.listMessages()).messages.find((m) => m.url === `${target}/dead`), 2000);
    answer = 200;
    const { responses } = await client.dlq.retry([entry.dlqId]);
    expect(responses).toEqual([{ messageId: expect.stringMatching(/^msg_/) }]);
    await waitFor(() => received.length === 2, 2000);
    expect((await client.dlq.listMessages()).messages.find((m) => m.dlqId === entry.dlqId)).toBeUndefined();
  });

  it("evaluates a cron in UTC, or in the zone CRON_TZ= names; refuses an unknown zone", async () => {
    const hourIn = (id: string, timeZone: string) =>
      emulator.emulator.schedules.get(id)!.job.nextRun()!.toLocaleString("en-GB", { timeZone, hour: "2-digit", hour12: false });
    await client.schedules.create({ scheduleId: "ny", destination: `${target}/ny`, cron: "CRON_TZ=America/New_York 0 4 * * *" });
    await client.schedules.create({ scheduleId: "utc", destination: `${target}/utc`, cron: "0 4 * * *" });
    expect(hourIn("ny", "America/New_York")).toBe("04");
    expect(hourIn("utc", "UTC")).toBe("04");
    expect((await client.schedules.get("ny")).cron).toBe("CRON_TZ=America/New_York 0 4 * * *");
    expect(
      (await refusal(client.schedules.create({ scheduleId: "bad", destination: `${target}/x`, cron: "CRON_TZ=Mars/Olympus 0 4 * * *" })))
        ?.status,
    ).toBe(400);
    await client.schedules.delete("ny");
    await client.schedules.delete("utc");
  });

  it("holds flow-controlled publishes to the key's parallelism across URLs; refuses a bad value", async () => {
    let inFlight = 0;
    let most = 0;
    const server = createServer(async (req, res) => {
      for await (const _ of req);
      inFlight++;
      most = Math.max(most, inFlight);
      received.push({ path: req.url!, headers: req.headers, body: "", at: Date.now() });
      await new Promise((r) => setTimeout(r, 40));
      inFlight--;
      res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await client.batchJSON(
        [0, 1, 2, 3].map((n) => ({ url: `${url}/p${n % 2}`, body: {}, flowControl: { key: "one-at-a-time", parallelism: 1 } })),
      );
      await waitFor(() => received.length === 4, 3000);
      expect(most).toBe(1);
      // The rate per period is proved on a held clock (qstash-emulator-contract.test.ts), not by wall time.
      const bad = await fetch(`${emulator.url}/v2/publish/${url}/x`, {
        method: "POST",
        headers: { authorization: "Bearer emulator-token", "upstash-flow-control-key": "k", "upstash-flow-control-value": "parallelism=0" },
      });
      expect(bad.status).toBe(400);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
