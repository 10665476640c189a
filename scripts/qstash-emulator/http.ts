// The QStash HTTP API over the emulator engine: the routes the official @upstash/qstash client calls,
// each request checked as the real service checks it (the source of each rule is cited beside it).

import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type EmulatorOptions, type FlowControl, type NewMessage, QStashEmulator, type Schedule, type StoredMessage } from "./emulator";

type Reply = { status: number; json?: unknown; headers?: Record<string, string> };
const ok = (json?: unknown): Reply => ({ status: 200, json });
const fail = (status: number, error: string, headers?: Record<string, string>): Reply => ({ status, json: { error }, headers });

/** A request QStash refuses as a whole, with its status and message. */
class Refused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Parses "10s", "2m", "1h" or a number of seconds into milliseconds. */
function duration(value: string | undefined): number | undefined {
  const match = value?.trim().match(/^(\d+)(ms|s|m|h|d)?$/);
  if (!match) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? "s"]!;
  return Number(match[1]) * unit;
}

/**
 * Upstash-Flow-Control-Value: "parallelism=2, rate=10, period=1m"; at least one of parallelism and rate
 * (qstash-js builds it so, and throws "Provide at least one of parallelism or ratePerSecond"); period
 * defaults to one second (https://upstash.com/docs/qstash/features/flowcontrol).
 */
function flowControl(key: string | null, value: string | null): FlowControl | undefined {
  if (key === null && value === null) return undefined;
  if (!key || !value) throw new Refused(400, "Upstash-Flow-Control-Key and Upstash-Flow-Control-Value must be given together");
  const control: FlowControl = { key, periodMs: 1000 };
  for (const part of value.split(",")) {
    const [name, raw] = part
      .trim()
      .split("=")
      .map((s) => s.trim()) as [string, string | undefined];
    const number = Number(raw);
    if (name === "parallelism" && Number.isInteger(number) && number > 0) control.parallelism = number;
    else if (name === "rate" && Number.isInteger(number) && number > 0) control.rate = number;
    else if (name === "period" && duration(raw)) control.periodMs = duration(raw)!;
    else throw new Refused(400, `invalid Upstash-Flow-Control-Value: ${value}`);
  }
  if (control.parallelism === undefined && control.rate === undefined)
    throw new Refused(400, `invalid Upstash-Flow-Control-Value: ${value}`);
  return control;
}

/** Reads the message options QStash takes as Upstash-* headers; Upstash-Forward-* are passed on. */
function messageFromHeaders(emulator: QStashEmulator, headers: Headers, destination: string, body: string, queueName?: string) {
  // Destinations must be URLs (or URL groups, which the emulator does not have).
  if (!/^https?:\/\/[^/]/.test(destination)) throw new Refused(400, `invalid destination url: ${destination}`);
  const forwarded: Record<string, string[]> = {};
  headers.forEach((value, name) => {
    if (name.startsWith("upstash-forward-")) forwarded[name.slice("upstash-forward-".length)] = [value];
  });
  const contentType = headers.get("content-type");
  if (contentType) forwarded["Content-Type"] = [contentType];
  const delay = headers.get("upstash-delay");
  const notBeforeHeader = headers.get("upstash-not-before");
  // Enqueue takes neither: "It is not possible to use delay and not before in enqueue endpoint"
  // (upstash/docs #225, #279); qstash-py #28: "users get an immediate error from the server".
  if (queueName && (delay !== null || notBeforeHeader !== null)) {
    throw new Refused(400, "delay and notBefore are not supported for enqueue");
  }
  if (delay !== null && duration(delay) === undefined) throw new Refused(400, `invalid Upstash-Delay: ${delay}`);
  const notBefore = Math.max(emulator.now() + (delay === null ? 0 : duration(delay)!), Number(notBeforeHeader ?? 0) * 1000);
  let deduplicationId = headers.get("upstash-deduplication-id") ?? undefined;
  // Real answer, reported from batchJSON: 400 {"error":"DeduplicationId cannot contain ':'"}
  // (superset-sh/superset #3591; lobehub #18778).
  if (deduplicationId?.includes(":")) throw new Refused(400, "DeduplicationId cannot contain ':'");
  if (!deduplicationId && headers.get("upstash-content-based-deduplication") === "true") {
    deduplicationId = createHash("sha256").update(destination).update("\0").update(body).digest("hex");
  }
  const retries = headers.get("upstash-retries");
  const message: NewMessage = {
    url: destination,
    method: headers.get("upstash-method") ?? "POST",
    body,
    header: forwarded,
    notBefore,
    maxRetries: emulator.retriesFor(retries === null ? undefined : Number(retries)),
    callback: headers.get("upstash-callback") ?? undefined,
    failureCallback: headers.get("upstash-failure-callback") ?? undefined,
    queueName,
    flowControl: flowControl(headers.get("upstash-flow-control-key"), headers.get("upstash-flow-control-value")),
  };
  return { message, deduplicationId };
}

/**
 * The daily limit: "We raise 429 status code on two occasions: … When the daily max message limit is
 * exceeded" (qstash-py #26), with RateLimit-Limit/-Remaining/-Reset, which qstash-js reads into
 * QstashDailyRatelimitError (src/client/error.ts; docs qstash/api/api-ratelimiting, "Daily Rate Limit").
 */
function dailyLimit(emulator: QStashEmulator): Reply | undefined {
  if (emulator.quotaLeft() > 0) return undefined;
  const tomorrow = new Date(emulator.now());
  tomorrow.setUTCHours(24, 0, 0, 0);
  return fail(429, `daily message limit of ${emulator.limits.messagesPerDay} reached for this plan`, {
    "RateLimit-Limit": String(emulator.limits.messagesPerDay),
    "RateLimit-Remaining": "0",
    "RateLimit-Reset": String(tomorrow.getTime() / 1000),
  });
}

/**
 * "412 if it fails because of the allowed number of queues limit" (docs: Upsert a Queue); the same for a
 * parallelism above the plan's "Max Queue Parallelism" (pricing page; Free: 2, reported in issue 11 as
 * 412 on upserting 5). The exact wording of the real messages is not public.
 */
function queueLimit(emulator: QStashEmulator, name: string, parallelism = 1): string | undefined {
  if (!emulator.queues.has(name) && emulator.queues.size >= emulator.limits.queues) {
    return `queue limit reached: this plan allows ${emulator.limits.queues} queues`;
  }
  if (parallelism > emulator.limits.queueParallelism) {
    return `parallelism ${parallelism} exceeds this plan's maximum queue parallelism of ${emulator.limits.queueParallelism}`;
  }
  return undefined;
}

function publicMessage(m: StoredMessage) {
  return {
    messageId: m.messageId,
    url: m.url,
    method: m.method,
    body: m.body,
    header: m.header,
    notBefore: m.notBefore,
    createdAt: m.createdAt,
    maxRetries: m.maxRetries,
    retried: m.retried,
    callback: m.callback,
    failureCallback: m.failureCallback,
    queueName: m.queueName,
    scheduleId: m.scheduleId,
    ...(m.flowControl && { flowControlKey: m.flowControl.key }),
  };
}

/**
 * "In case a message is a duplicate, we will accept the request and return the messageID of the existing
 * message. The only difference will be the response status code. We'll send HTTP `202 Accepted`"
 * (docs: qstash/features/deduplication).
 */
const published = (answer: { messageId: string; deduplicated?: boolean }): Reply => ({
  status: answer.deduplicated ? 202 : 200,
  json: answer,
});

/** The emulator's own meter (not QStash's API): today's publish requests and deliveries against the plan. */
function usage(emulator: QStashEmulator) {
  const today = emulator.usageOn();
  return {
    day: new Date(emulator.now()).toISOString().slice(0, 10),
    limit: emulator.limits.messagesPerDay,
    ...today,
    remaining: Math.max(0, emulator.quotaLeft()),
    ...emulator.globalParallelism(),
  };
}

export function route(emulator: QStashEmulator, method: string, path: string, search: string, headers: Headers, body: string): Reply {
  const refused = () => (emulator.refusesPublish() ? fail(503, "emulator: publishing refused (injected fault)") : dailyLimit(emulator));
  const publish = (destination: string, queueName?: string): Reply => {
    const refusal = refused() ?? (queueName ? queueLimitReply(queueName) : undefined);
    if (refusal) return refusal;
    const { message, deduplicationId } = messageFromHeaders(emulator, headers, destination, body, queueName);
    return published(emulator.publish(message, deduplicationId));
  };
  const queueLimitReply = (name: string, parallelism?: number) => {
    const error = queueLimit(emulator, name, parallelism);
    return error ? fail(412, error) : undefined;
  };

  let match: RegExpMatchArray | null;
  if (method === "POST" && (match = path.match(/^\/v2\/publish\/(.+)$/))) return publish(match[1]! + search);
  if (method === "POST" && (match = path.match(/^\/v2\/enqueue\/([^/]+)\/(.+)$/))) return publish(match[2]! + search, match[1]);
  if (method === "POST" && path === "/v2/batch") {
    const refusal = refused();
    if (refusal) return refusal;
    const items = JSON.parse(body) as { destination: string; headers: Record<string, string>; body?: string; queue?: string }[];
    if (!Array.isArray(items)) return fail(400, "batch body must be an array");
    // "If the format of the messages are valid, the response will be an array of responses for each
    // message in the batch … If one message fails to be sent, that message will have an error
    // response, but the other messages will still be sent." (docs: qstash/features/batch). A format
    // error refuses the whole batch (the ':' report above came from batchJSON).
    const parsed = items.map((item) =>
      messageFromHeaders(emulator, new Headers(item.headers), item.destination, item.body ?? "", item.queue),
    );
    return ok(
      parsed.map(({ message, deduplicationId }) => {
        const error =
          (message.queueName && queueLimit(emulator, message.queueName)) ||
          (emulator.faults.refuseMessage?.(message) ? "emulator: message refused (injected fault)" : undefined);
        return error ? { error } : emulator.publish(message, deduplicationId);
      }),
    );
  }

  if (method === "POST" && path === "/v2/queues") {
    const { queueName, parallelism = 1, paused } = JSON.parse(body) as { queueName: string; parallelism?: number; paused?: boolean };
    // "parallelism must be greater than 0" (upstash/docs #695: OpenAPI minimum 1).
    if (!Number.isInteger(parallelism) || parallelism < 1) return fail(400, "parallelism must be greater than 0");
    const refusal = queueLimitReply(queueName, parallelism);
    if (refusal) return refusal;
    emulator.upsertQueue(queueName, parallelism, paused ?? false);
    return ok();
  }
  if (method === "GET" && path === "/v2/queues") return ok([...emulator.queues.values()].map(queueView(emulator)));
  if ((match = path.match(/^\/v2\/queues\/([^/]+)(?:\/(pause|resume))?$/))) {
    const [, name, action] = match as unknown as [string, string, string | undefined];
    if ((method === "POST" || method === "PATCH") && action)
      return emulator.setQueuePaused(name, action === "pause") ? ok() : fail(404, "queue not found");
    const queue = emulator.queues.get(name);
    if (!queue) return fail(404, "queue not found");
    if (method === "GET") return ok(queueView(emulator)(queue));
    if (method === "DELETE") return (emulator.queues.delete(name), ok());
  }

  if (method === "GET" && path === "/v2/globalParallelism") return ok(emulator.globalParallelism());
  if (method === "GET" && path === "/emulator/usage") return ok(usage(emulator));

  if (method === "POST" && (match = path.match(/^\/v2\/schedules\/(https?:\/\/.+)$/))) {
    const cron = headers.get("upstash-cron");
    // Reported from a create without the header: {"error":"Invalid cron expression empty spec string"} (qstash-js #50).
    if (!cron) return fail(400, "Invalid cron expression empty spec string");
    const { message } = messageFromHeaders(emulator, headers, match[1]! + search, body);
    const scheduleId =
      headers.get("upstash-schedule-id") ?? `scd_${createHash("sha1").update(String(Math.random())).digest("hex").slice(0, 20)}`;
    // "Max Active Schedules" (pricing page; Free: 10). The real status and wording are not public; 412 as for queues.
    if (!emulator.schedules.has(scheduleId) && emulator.schedules.size >= emulator.limits.schedules) {
      return fail(412, `schedule limit reached: this plan allows ${emulator.limits.schedules} active schedules`);
    }
    try {
      emulator.upsertSchedule({
        scheduleId,
        cron,
        destination: message.url,
        method: message.method,
        body,
        header: message.header,
        retries: message.maxRetries,
        failureCallback: message.failureCallback,
        callback: message.callback,
      });
    } catch (error) {
      // QStash's wording: "Invalid cron expression " and its parser's message (cron.ts).
      return fail(400, `Invalid cron expression ${error instanceof Error ? error.message : String(error)}`);
    }
    return ok({ scheduleId });
  }
  if (method === "GET" && path === "/v2/schedules") return ok([...emulator.schedules.values()].map(scheduleView));
  if ((match = path.match(/^\/v2\/schedules\/([^/]+)(?:\/(pause|resume))?$/))) {
    const [, id, action] = match as unknown as [string, string, string | undefined];
    const schedule = emulator.schedules.get(id);
    if (!schedule) return fail(404, "schedule not found");
    if ((method === "POST" || method === "PATCH") && action) return ((schedule.isPaused = action === "pause"), ok());
    if (method === "GET") return ok(scheduleView(schedule));
    if (method === "DELETE") return (emulator.deleteSchedule(id), ok());
  }

  if ((match = path.match(/^\/v2\/messages\/([^/]+)$/))) {
    const message = emulator.messages.get(match[1]!);
    if (!message) return fail(404, "message not found");
    if (method === "GET") return ok(publicMessage(message));
    if (method === "DELETE") return (emulator.cancel(message.messageId), ok({ cancelled: 1 }));
  }

  if (method === "GET" && path === "/v2/dlq") {
    return ok({
      messages: [...emulator.dlq.values()].map((m) => ({
        ...publicMessage(m),
        dlqId: m.dlqId,
        responseStatus: m.responseStatus,
        responseBody: m.responseBody,
      })),
    });
  }
  // POST /v2/dlq/retry/{dlqId} answers {messageId}; POST /v2/dlq/retry?dlqIds=… answers {responses, cursor}
  // (docs: "Retry a DLQ message", "Bulk Retry DLQ messages").
  if (method === "POST" && (match = path.match(/^\/v2\/dlq\/retry(?:\/([^/]+))?$/))) {
    const refusal = refused();
    if (refusal) return refusal;
    if (match[1]) return emulator.dlq.has(match[1]) ? ok(emulator.retryDlq(match[1])) : fail(404, "dlq message not found");
    const query = new URLSearchParams(search);
    const ids = query.has("dlqIds") ? query.getAll("dlqIds").flatMap((id) => id.split(",")) : [...emulator.dlq.keys()];
    return ok({ responses: ids.flatMap((id) => emulator.retryDlq(id) ?? []) });
  }
  if (method === "DELETE" && (match = path.match(/^\/v2\/dlq\/([^/]+)$/))) {
    return emulator.dlq.delete(match[1]!) ? ok() : fail(404, "dlq message not found");
  }
  return fail(404, `emulator: no route for ${method} ${path}`);
}

const queueView =
  (emulator: QStashEmulator) => (q: { name: string; parallelism: number; paused: boolean; createdAt: number; updatedAt: number }) => ({
    name: q.name,
    parallelism: q.parallelism,
    paused: q.paused,
    createdAt: q.createdAt,
    updatedAt: q.updatedAt,
    lag: [...emulator.messages.values()].filter((m) => m.queueName === q.name).length,
  });

const scheduleView = (s: Schedule) => ({
  scheduleId: s.scheduleId,
  cron: s.cron,
  destination: s.destination,
  method: s.method,
  body: s.body,
  header: s.header,
  retries: s.retries,
  createdAt: s.createdAt,
  isPaused: s.isPaused,
  failureCallback: s.failureCallback,
  callback: s.callback,
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
        reply =
          error instanceof Refused
            ? fail(error.status, error.message)
            : fail(400, `emulator: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    res.writeHead(reply.status, { ...reply.headers, ...(reply.json !== undefined && { "content-type": "application/json" }) });
    res.end(reply.json === undefined ? undefined : JSON.stringify(reply.json));
  });
  // As the local stack's server: idle sockets outlive the clients' keep-alive, so none is reset under load.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject); // a taken port is the caller's to handle
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    emulator,
    close: () =>
      new Promise((resolve) => {
        emulator.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
