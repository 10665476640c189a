import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { Client, Receiver } from "@upstash/qstash";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "../scripts/qstash-emulator/http";
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
  emulator = await startEmulator({ token: "emulator-token", ...keys, backoff: () => 20 });
  client = new Client({ token: "emulator-token", baseUrl: emulator.url, devMode: false, enableTelemetry: false });
  const server = createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    received.push({ path: req.url!, headers: req.headers, body: Buffer.concat(parts).toString(), at: Date.now() });
    res.writeHead(answer).end("answer body");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => { server.closeAllConnections(); server.close(); };
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
    const { messageId } = await client.publishJSON({ url: `${target}/hook?x=1`, body: { hello: "world" }, headers: { "X-Custom": "kept" } });
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
    await expect(new Receiver({ currentSigningKey: "a", nextSigningKey: "b", devMode: false }).verify({ signature, body: delivery!.body })).rejects.toThrow();
  });

  it("refuses a wrong token", async () => {
    const stranger = new Client({ token: "wrong", baseUrl: emulator.url, devMode: false, enableTelemetry: false, retry: false });
    await expect(stranger.publishJSON({ url: `${target}/x`, body: {} })).rejects.toThrow(/401|token/);
  });

  it("honours delays and not-before", async () => {
    const started = Date.now();
    await client.publishJSON({ url: `${target}/delayed`, body: {}, delay: 1 });
    await client.publishJSON({ url: `${target}/not-before`, body: {}, notBefore: Math.ceil(Date.now() / 1000) + 1 });
    await waitFor(() => received.length === 2, 4000);
    const delayed = received.find((r) => r.path === "/delayed")!;
    expect(delayed.at - started).toBeGreaterThanOrEqual(950);
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
    await expect(receiver.verify({ signature: callback.headers["upstash-signature"] as string, body: callback.body, url: `${target}/failed` })).resolves.toBe(true);
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

  it("fires schedules on their cron, signed, with the schedule id; updates them by id", async () => {
    const { scheduleId } = await client.schedules.create({ scheduleId: "every-second", destination: `${target}/tick`, cron: "* * * * * *", body: "{}" });
    await client.schedules.create({ scheduleId: "every-second", destination: `${target}/tick`, cron: "* * * * * *", body: "{}" });
    expect((await client.schedules.list()).filter((s) => s.scheduleId === "every-second")).toHaveLength(1);
    const tick = await waitFor(() => received.find((r) => r.path === "/tick"), 2500);
    expect(tick.headers["upstash-schedule-id"]).toBe(scheduleId);
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
