// The QStash HTTP API over the emulator engine: the routes the official @upstash/qstash client calls.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createHash, timingSafeEqual } from "node:crypto";
import { QStashEmulator, type EmulatorOptions, type StoredMessage } from "./emulator";

type Reply = { status: number; json?: unknown };
const ok = (json?: unknown): Reply => ({ status: 200, json });
const fail = (status: number, error: string): Reply => ({ status, json: { error } });

/** Parses "10s", "2m", "1h" or a number of seconds into milliseconds. */
function duration(value: string | undefined): number {
  const match = value?.match(/^(\d+)(ms|s|m|h|d)?$/);
  if (!match) return 0;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? "s"]!;
  return Number(match[1]) * unit;
}

/** Reads the message options QStash takes as Upstash-* headers; Upstash-Forward-* are passed on. */
function messageFromHeaders(headers: Headers, destination: string, body: string, defaultRetries: number) {
  const forwarded: Record<string, string[]> = {};
  headers.forEach((value, name) => {
    if (name.startsWith("upstash-forward-")) forwarded[name.slice("upstash-forward-".length)] = [value];
  });
  const contentType = headers.get("content-type");
  if (contentType) forwarded["Content-Type"] = [contentType];
  const notBeforeSeconds = Number(headers.get("upstash-not-before") ?? 0);
  const notBefore = Math.max(Date.now() + duration(headers.get("upstash-delay") ?? undefined), notBeforeSeconds * 1000);
  let deduplicationId = headers.get("upstash-deduplication-id") ?? undefined;
  if (!deduplicationId && headers.get("upstash-content-based-deduplication") === "true") {
    deduplicationId = createHash("sha256").update(destination).update("\0").update(body).digest("hex");
  }
  const retries = headers.get("upstash-retries");
  const message: Omit<StoredMessage, "messageId" | "createdAt" | "retried"> = {
    url: destination,
    method: headers.get("upstash-method") ?? "POST",
    body,
    header: forwarded,
    notBefore,
    maxRetries: retries === null ? defaultRetries : Number(retries),
    callback: headers.get("upstash-callback") ?? undefined,
    failureCallback: headers.get("upstash-failure-callback") ?? undefined,
  };
  return { message, deduplicationId };
}

const validDestination = (destination: string) => /^https?:\/\/[^/]/.test(destination);

function publicMessage(m: StoredMessage) {
  return {
    messageId: m.messageId, url: m.url, method: m.method, body: m.body, header: m.header,
    notBefore: m.notBefore, createdAt: m.createdAt, maxRetries: m.maxRetries, retried: m.retried,
    callback: m.callback, failureCallback: m.failureCallback, queueName: m.queueName, scheduleId: m.scheduleId,
  };
}

export function route(emulator: QStashEmulator, method: string, path: string, search: string, headers: Headers, body: string): Reply {
  const defaultRetries = emulator.options.defaultRetries ?? 3;
  const publish = (destination: string, queueName?: string): Reply => {
    if (!validDestination(destination)) return fail(400, `invalid destination url: ${destination}`);
    if (emulator.refusesPublish()) return fail(503, "emulator: publishing refused (injected fault)");
    const { message, deduplicationId } = messageFromHeaders(headers, destination, body, defaultRetries);
    return ok(emulator.publish({ ...message, queueName }, deduplicationId));
  };

  let match: RegExpMatchArray | null;
  if (method === "POST" && (match = path.match(/^\/v2\/publish\/(.+)$/))) return publish(match[1]! + search);
  if (method === "POST" && (match = path.match(/^\/v2\/enqueue\/([^/]+)\/(.+)$/))) return publish(match[2]! + search, match[1]);
  if (method === "POST" && path === "/v2/batch") {
    if (emulator.refusesPublish()) return fail(503, "emulator: publishing refused (injected fault)");
    const items = JSON.parse(body) as { destination: string; headers: Record<string, string>; body?: string; queue?: string }[];
    if (!Array.isArray(items)) return fail(400, "batch body must be an array");
    if (items.some((item) => !validDestination(item.destination))) return fail(400, "invalid destination url in batch");
    return ok(items.map((item) => {
      const { message, deduplicationId } = messageFromHeaders(new Headers(item.headers), item.destination, item.body ?? "", defaultRetries);
      return emulator.publish({ ...message, queueName: item.queue }, deduplicationId);
    }));
  }

  if (method === "POST" && path === "/v2/queues") {
    const { queueName, parallelism, paused } = JSON.parse(body) as { queueName: string; parallelism?: number; paused?: boolean };
    emulator.upsertQueue(queueName, parallelism ?? 1, paused ?? false);
    return ok();
  }
  if (method === "GET" && path === "/v2/queues") return ok([...emulator.queues.values()].map(queueView(emulator)));
  if ((match = path.match(/^\/v2\/queues\/([^/]+)(?:\/(pause|resume))?$/))) {
    const [, name, action] = match as unknown as [string, string, string | undefined];
    if ((method === "POST" || method === "PATCH") && action) return emulator.setQueuePaused(name, action === "pause") ? ok() : fail(404, "queue not found");
    const queue = emulator.queues.get(name);
    if (!queue) return fail(404, "queue not found");
    if (method === "GET") return ok(queueView(emulator)(queue));
    if (method === "DELETE") return emulator.queues.delete(name), ok();
  }

  if (method === "POST" && (match = path.match(/^\/v2\/schedules\/(https?:\/\/.+)$/))) {
    const cron = headers.get("upstash-cron");
    if (!cron) return fail(400, "Upstash-Cron header is required");
    const { message } = messageFromHeaders(headers, match[1]! + search, body, defaultRetries);
    const scheduleId = headers.get("upstash-schedule-id") ?? `scd_${createHash("sha1").update(String(Math.random())).digest("hex").slice(0, 20)}`;
    try {
      emulator.upsertSchedule({ scheduleId, cron, destination: message.url, method: message.method, body, header: message.header,
        retries: message.maxRetries, failureCallback: message.failureCallback, callback: message.callback });
    } catch (error) {
      return fail(400, `invalid cron: ${error instanceof Error ? error.message : String(error)}`);
    }
    return ok({ scheduleId });
  }
  if (method === "GET" && path === "/v2/schedules") return ok([...emulator.schedules.values()].map(scheduleView));
  if ((match = path.match(/^\/v2\/schedules\/([^/]+)(?:\/(pause|resume))?$/))) {
    const [, id, action] = match as unknown as [string, string, string | undefined];
    const schedule = emulator.schedules.get(id);
    if (!schedule) return fail(404, "schedule not found");
    if ((method === "POST" || method === "PATCH") && action) return (schedule.isPaused = action === "pause"), ok();
    if (method === "GET") return ok(scheduleView(schedule));
    if (method === "DELETE") return emulator.deleteSchedule(id), ok();
  }

  if ((match = path.match(/^\/v2\/messages\/([^/]+)$/))) {
    const message = emulator.messages.get(match[1]!);
    if (!message) return fail(404, "message not found");
    if (method === "GET") return ok(publicMessage(message));
    if (method === "DELETE") return emulator.cancel(message.messageId), ok({ cancelled: 1 });
  }

  if (method === "GET" && path === "/v2/dlq") {
    return ok({ messages: [...emulator.dlq.values()].map((m) => ({ ...publicMessage(m), dlqId: m.dlqId, responseStatus: m.responseStatus, responseBody: m.responseBody })) });
  }
  if (method === "DELETE" && (match = path.match(/^\/v2\/dlq\/([^/]+)$/))) {
    return emulator.dlq.delete(match[1]!) ? ok() : fail(404, "dlq message not found");
  }
  return fail(404, `emulator: no route for ${method} ${path}`);
}

const queueView = (emulator: QStashEmulator) => (q: { name: string; parallelism: number; paused: boolean; createdAt: number; updatedAt: number }) => ({
  name: q.name, parallelism: q.parallelism, paused: q.paused, createdAt: q.createdAt, updatedAt: q.updatedAt,
  lag: [...emulator.messages.values()].filter((m) => m.queueName === q.name).length,
});

const scheduleView = (s: { scheduleId: string; cron: string; destination: string; method: string; body: string; header: Record<string, string[]>; retries: number; createdAt: number; isPaused: boolean; failureCallback?: string; callback?: string }) => ({
  scheduleId: s.scheduleId, cron: s.cron, destination: s.destination, method: s.method, body: s.body, header: s.header,
  retries: s.retries, createdAt: s.createdAt, isPaused: s.isPaused, failureCallback: s.failureCallback, callback: s.callback,
});

export type RunningEmulator = { url: string; emulator: QStashEmulator; close(): Promise<void> };

/** Starts the emulator on 127.0.0.1 (port 0 picks a free one). */
export async function startEmulator(options: EmulatorOptions & { port?: number }): Promise<RunningEmulator> {
  const emulator = new QStashEmulator(options);
  const expected = Buffer.from(`Bearer ${options.token}`);
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const given = Buffer.from(req.headers.authorization ?? "");
    let reply: Reply;
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      reply = fail(401, "emulator: missing or wrong QStash token");
    } else {
      const url = new URL(req.url ?? "/", "http://emulator");
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === "string") headers.set(name, value);
      try {
        reply = route(emulator, req.method ?? "GET", url.pathname, url.search, headers, body);
      } catch (error) {
        reply = fail(400, `emulator: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    res.writeHead(reply.status, reply.json === undefined ? {} : { "content-type": "application/json" });
    res.end(reply.json === undefined ? undefined : JSON.stringify(reply.json));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject); // a taken port is the caller's to handle
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url, emulator,
    close: () => new Promise((resolve) => { emulator.close(); server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
