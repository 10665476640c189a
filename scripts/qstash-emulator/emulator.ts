// The QStash emulator's engine: messages, FIFO queues, flow control, schedules on cron (with CRON_TZ),
// deduplication, signed deliveries with retries and backoff, the DLQ and callbacks, and a plan's daily
// message meter. Upstash's own dev server downloads a binary, which cannot work offline; this speaks the
// same HTTP API (see http.ts, where requests are checked against the plan).
import { randomUUID } from "node:crypto";
import { Cron } from "croner";
import { planLimits, type PlanLimits, type PlanName } from "./plans";
import { signDelivery } from "./sign";

/**
 * A paused croner job for a QStash cron: evaluated in UTC ("By default, we evaluate cron expressions in
 * UTC"), or in the zone a "CRON_TZ=America/New_York 0 4 * * *" prefix names (docs: qstash/features/schedules,
 * "Timezones"). Throws on a bad cron or zone.
 */
export function cronJob(cron: string, run: () => void): Cron {
  const zoned = cron.match(/^CRON_TZ=(\S+)\s+(.+)$/);
  const job = new Cron(zoned ? zoned[2]! : cron, { timezone: zoned ? zoned[1]! : "UTC", paused: true }, run);
  // Croner only learns a bad zone when it computes a run: ask now, so a bad cron is refused at once.
  job.nextRun();
  return job;
}

/** Upstash-Flow-Control-Key and -Value (https://upstash.com/docs/qstash/features/flowcontrol). */
export type FlowControl = { key: string; parallelism?: number; rate?: number; periodMs: number };

export type StoredMessage = {
  messageId: string;
  url: string;
  method: string;
  body: string;
  /** Headers forwarded to the destination (Upstash-Forward-* with the prefix removed, and Content-Type). */
  header: Record<string, string[]>;
  notBefore: number;
  createdAt: number;
  maxRetries: number;
  retried: number;
  callback?: string;
  failureCallback?: string;
  queueName?: string;
  flowControl?: FlowControl;
  scheduleId?: string;
  /** Set on the callback deliveries we make, which are never called back themselves. */
  isCallback?: boolean;
};

export type NewMessage = Omit<StoredMessage, "messageId" | "createdAt" | "retried">;

export type Queue = { name: string; parallelism: number; paused: boolean; createdAt: number; updatedAt: number };

export type Schedule = {
  scheduleId: string;
  cron: string;
  destination: string;
  method: string;
  body: string;
  header: Record<string, string[]>;
  retries: number;
  failureCallback?: string;
  callback?: string;
  createdAt: number;
  isPaused: boolean;
  job: Cron;
};

export type DlqMessage = StoredMessage & { dlqId: string; responseStatus: number; responseBody: string };

export type EmulatorOptions = {
  token: string;
  currentSigningKey: string;
  nextSigningKey: string;
  /** The plan whose limits apply; `free` unless told otherwise. */
  plan?: PlanName;
  /** Limits to change from the plan's, e.g. a small daily quota for a test. */
  limits?: Partial<PlanLimits>;
  /** Milliseconds to wait before retry n (1-based). QStash's own is below; tests go faster. */
  backoff?: (retry: number) => number;
  /** Default retries when a message names none: the plan's maximum, as QStash does. */
  defaultRetries?: number;
  /** How long a deduplication id is remembered. */
  deduplicationWindowMs?: number;
  deliveryTimeoutMs?: number;
  log?: (line: string) => void;
};

/** Faults to inject, for tests of what happens when QStash misbehaves. */
export type Faults = {
  /** Refuse publishes: always, or when the function says so. */
  refusePublish?: boolean | (() => boolean);
  /** Refuse single messages of a batch (the others are accepted), as QStash may. */
  refuseMessage?: (message: NewMessage) => boolean;
  /** Answer 500 instead of delivering, while true for the delivery. */
  failDelivery?: (message: StoredMessage) => boolean;
  /** Deliver a successful message once more, later (QStash delivers at least once). */
  duplicateDelivery?: (message: StoredMessage) => boolean;
  /** Extra delay before each attempt, so deliveries overtake each other. */
  jitterMs?: () => number;
};

export type DeliveryRecord = { messageId: string; url: string; status: number; retried: number; at: number };

/** "delay = min(86400, e ** (2.5*n))" seconds (https://upstash.com/docs/qstash/features/retry). */
const qstashBackoff = (retry: number) => Math.min(86_400, Math.exp(2.5 * retry)) * 1000;

type Flow = { running: number; windowStart: number; inWindow: number; waiting: StoredMessage[]; timer?: NodeJS.Timeout };

const utcDay = (at: number) => new Date(at).toISOString().slice(0, 10);

export class QStashEmulator {
  readonly messages = new Map<string, StoredMessage>();
  readonly queues = new Map<string, Queue>();
  readonly schedules = new Map<string, Schedule>();
  readonly dlq = new Map<string, DlqMessage>();
  readonly deliveries: DeliveryRecord[] = [];
  readonly limits: PlanLimits;
  faults: Faults = {};
  private readonly dedup = new Map<string, { messageId: string; until: number }>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly sleeps = new Set<NodeJS.Timeout>();
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, StoredMessage[]>();
  private readonly flows = new Map<string, Flow>();
  private readonly billed = new Map<string, number>();
  private closed = false;

  constructor(readonly options: EmulatorOptions) {
    this.limits = planLimits(options.plan, options.limits);
  }

  refusesPublish(): boolean {
    const refuse = this.faults.refusePublish;
    return typeof refuse === "function" ? refuse() : !!refuse;
  }

  /** Billed messages (delivery attempts, retries and callbacks included) on the UTC day of `at`. */
  messagesOn(at = Date.now()): number {
    return this.billed.get(utcDay(at)) ?? 0;
  }

  /** Messages left today under the plan's daily limit. */
  quotaLeft(now = Date.now()): number {
    return this.limits.messagesPerDay - this.messagesOn(now);
  }

  /** Retries a message may have: what it asks for, at most the plan's maximum. */
  retriesFor(requested: number | undefined): number {
    return Math.min(requested ?? this.options.defaultRetries ?? this.limits.retries, this.limits.retries);
  }

  /** Accepts a message; answers the existing id when its deduplication id was seen recently. */
  publish(input: NewMessage, deduplicationId?: string): { messageId: string; deduplicated?: boolean } {
    const now = Date.now();
    if (deduplicationId) {
      const seen = this.dedup.get(deduplicationId);
      if (seen && seen.until > now) return { messageId: seen.messageId, deduplicated: true };
    }
    const message: StoredMessage = { ...input, messageId: `msg_${randomUUID().replace(/-/g, "")}`, createdAt: now, retried: 0 };
    if (deduplicationId) {
      this.dedup.set(deduplicationId, { messageId: message.messageId, until: now + (this.options.deduplicationWindowMs ?? 10 * 60_000) });
    }
    this.messages.set(message.messageId, message);
    if (message.queueName && !this.queues.has(message.queueName)) this.upsertQueue(message.queueName, 1, false);
    this.scheduleAttempt(message, Math.max(0, message.notBefore - now));
    return { messageId: message.messageId };
  }

  cancel(messageId: string): boolean {
    const timer = this.timers.get(messageId);
    if (timer) clearTimeout(timer);
    this.timers.delete(messageId);
    for (const list of [...this.waiting.values(), ...[...this.flows.values()].map((f) => f.waiting)]) {
      const index = list.findIndex((m) => m.messageId === messageId);
      if (index >= 0) list.splice(index, 1);
    }
    return this.messages.delete(messageId);
  }

  upsertQueue(name: string, parallelism: number, paused: boolean) {
    const now = Date.now();
    const existing = this.queues.get(name);
    this.queues.set(name, { name, parallelism: Math.max(1, parallelism), paused, createdAt: existing?.createdAt ?? now, updatedAt: now });
    this.pump(name);
  }

  setQueuePaused(name: string, paused: boolean) {
    const queue = this.queues.get(name);
    if (!queue) return false;
    queue.paused = paused;
    queue.updatedAt = Date.now();
    this.pump(name);
    return true;
  }

  /** Creates or replaces a schedule. `CRON_TZ=<zone> ` before the fields names its time zone (UTC otherwise). */
  upsertSchedule(input: Omit<Schedule, "createdAt" | "isPaused" | "job">): string {
    const job = cronJob(input.cron, () => this.fire(schedule));
    this.schedules.get(input.scheduleId)?.job.stop();
    const schedule: Schedule = { ...input, createdAt: this.schedules.get(input.scheduleId)?.createdAt ?? Date.now(), isPaused: false, job };
    this.schedules.set(input.scheduleId, schedule);
    job.resume();
    return input.scheduleId;
  }

  /** Publishes a schedule's message now, as its cron would (tests need not wait a minute). */
  fire(schedule: Schedule) {
    if (schedule.isPaused || this.closed) return;
    this.publish({
      url: schedule.destination,
      method: schedule.method,
      body: schedule.body,
      header: schedule.header,
      notBefore: Date.now(),
      maxRetries: schedule.retries,
      scheduleId: schedule.scheduleId,
      callback: schedule.callback,
      failureCallback: schedule.failureCallback,
    });
  }

  deleteSchedule(id: string): boolean {
    this.schedules.get(id)?.job.stop();
    return this.schedules.delete(id);
  }

  /**
   * "When a DLQ message is retried, a new message with the same body and headers is created and
   * scheduled for delivery. The original DLQ message is then removed from the DLQ."
   * (https://upstash.com/docs/qstash/api-reference/dlq/retry-a-dlq-message)
   */
  retryDlq(dlqId: string): { messageId: string } | undefined {
    const entry = this.dlq.get(dlqId);
    if (!entry) return undefined;
    this.dlq.delete(dlqId);
    const { messageId: _, createdAt: __, retried: ___, dlqId: ____, responseStatus: _____, responseBody: ______, ...message } = entry;
    return this.publish({ ...message, notBefore: Date.now() });
  }

  close() {
    this.closed = true;
    for (const timer of [...this.timers.values(), ...this.sleeps]) clearTimeout(timer);
    for (const flow of this.flows.values()) if (flow.timer) clearTimeout(flow.timer);
    for (const schedule of this.schedules.values()) schedule.job.stop();
  }

  private backoff(retry: number) {
    return (this.options.backoff ?? qstashBackoff)(retry);
  }

  private scheduleAttempt(message: StoredMessage, delayMs: number) {
    delayMs += this.faults.jitterMs?.() ?? 0;
    const timer = setTimeout(() => {
      this.timers.delete(message.messageId);
      // A timer may fire a millisecond early by the wall clock; QStash delays a message "until a certain
      // time" (https://upstash.com/docs/qstash/features/delay, "Absolute Delay"), never less.
      const early = message.notBefore - Date.now();
      if (early > 0) return this.scheduleAttempt(message, early);
      if (message.queueName) this.enterQueue(message);
      else if (message.flowControl) this.enterFlow(message);
      else void this.attempt(message).then((next) => next === "retry" && this.scheduleAttempt(message, this.backoff(message.retried)));
    }, delayMs);
    this.timers.set(message.messageId, timer);
  }

  private enterQueue(message: StoredMessage) {
    const name = message.queueName!;
    // QStash creates a queue on first use with parallelism 1 ("By default, queues have parallelism 1").
    if (!this.queues.has(name)) this.upsertQueue(name, 1, false);
    this.waiting.set(name, [...(this.waiting.get(name) ?? []), message]);
    this.pump(name);
  }

  private pump(name: string) {
    const queue = this.queues.get(name);
    const waiting = this.waiting.get(name) ?? [];
    while (queue && !queue.paused && waiting.length && (this.running.get(name) ?? 0) < queue.parallelism) {
      const message = waiting.shift()!;
      this.running.set(name, (this.running.get(name) ?? 0) + 1);
      void this.holdSlot(message).finally(() => {
        this.running.set(name, (this.running.get(name) ?? 1) - 1);
        this.pump(name);
      });
    }
  }

  /**
   * A queued message keeps its slot through its retries: "The next message will wait for retries of
   * the current one if it can not be delivered" (https://upstash.com/docs/qstash/features/queues).
   */
  private async holdSlot(message: StoredMessage) {
    while ((await this.attempt(message)) === "retry" && !this.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.sleeps.delete(timer);
          resolve();
        }, this.backoff(message.retried));
        this.sleeps.add(timer);
      });
    }
  }

  private enterFlow(message: StoredMessage) {
    const key = message.flowControl!.key;
    const flow = this.flows.get(key) ?? { running: 0, windowStart: 0, inWindow: 0, waiting: [] };
    this.flows.set(key, flow);
    flow.waiting.push(message);
    this.pumpFlow(key);
  }

  /**
   * Flow control delays, never refuses: "If any of the limits is exceeded, additional messages will be
   * added to waitlist and delivered once either the time period has passed (for rate limit) or the
   * number of active calls drops below the limit (for parallelism limit)." Limits apply per key, not per
   * URL (https://upstash.com/docs/qstash/features/flowcontrol).
   */
  private pumpFlow(key: string) {
    const flow = this.flows.get(key)!;
    while (flow.waiting.length && !this.closed) {
      const next = flow.waiting[0]!;
      const { parallelism, rate, periodMs } = next.flowControl!;
      if (parallelism !== undefined && flow.running >= parallelism) return;
      if (rate !== undefined) {
        const now = Date.now();
        if (now - flow.windowStart >= periodMs) Object.assign(flow, { windowStart: now, inWindow: 0 });
        if (flow.inWindow >= rate) {
          flow.timer ??= setTimeout(
            () => {
              flow.timer = undefined;
              this.pumpFlow(key);
            },
            flow.windowStart + periodMs - now,
          );
          return;
        }
        flow.inWindow++;
      }
      flow.waiting.shift();
      flow.running++;
      void this.attempt(next)
        .then((outcome) => outcome === "retry" && this.scheduleAttempt(next, this.backoff(next.retried)))
        .finally(() => {
          flow.running--;
          this.pumpFlow(key);
        });
    }
  }

  /** One delivery attempt: settles the message (delivered, or to the DLQ), or says a retry is due. */
  private async attempt(message: StoredMessage): Promise<"settled" | "retry"> {
    if (this.closed || !this.messages.has(message.messageId)) return "settled";
    const { status, body, nonRetryable } = await this.deliver(message);
    // "Each delivery attempt counts as one message … each retry is counted as an additional message"
    // (https://upstash.com/docs/qstash/overall/pricing, FAQ).
    this.billed.set(utcDay(Date.now()), this.messagesOn() + 1);
    this.deliveries.push({ messageId: message.messageId, url: message.url, status, retried: message.retried, at: Date.now() });
    this.options.log?.(
      `${message.method} ${message.url} → ${status || "no answer"}${message.retried ? ` (retry ${message.retried})` : ""}`,
    );
    if (status >= 200 && status < 300) {
      this.messages.delete(message.messageId);
      if (message.callback) this.sendCallback(message.callback, message, status, body);
      if (this.faults.duplicateDelivery?.(message)) {
        const { messageId: _, createdAt: __, retried: ___, ...copy } = message;
        this.publish({ ...copy, notBefore: Date.now() + (this.faults.jitterMs?.() ?? 0) });
      }
      return "settled";
    }
    // "respond with a 489 status code and include the header Upstash-NonRetryable-Error: true … QStash will
    // immediately mark the message as failed and skip any further retry attempts. The message will then
    // be forwarded to the Dead Letter Queue" (https://upstash.com/docs/qstash/features/retry).
    if (!nonRetryable && message.retried < message.maxRetries) {
      message.retried++;
      return "retry";
    }
    this.messages.delete(message.messageId);
    if (message.isCallback) return "settled";
    const dlqId = `dlq_${randomUUID().replace(/-/g, "")}`;
    this.dlq.set(dlqId, { ...message, dlqId, responseStatus: status, responseBody: body });
    if (message.failureCallback) this.sendCallback(message.failureCallback, message, status, body, dlqId);
    return "settled";
  }

  private async deliver(message: StoredMessage): Promise<{ status: number; body: string; nonRetryable: boolean }> {
    if (this.faults.failDelivery?.(message)) return { status: 500, body: "emulator: injected delivery failure", nonRetryable: false };
    const headers = new Headers();
    for (const [name, values] of Object.entries(message.header)) for (const value of values) headers.append(name, value);
    headers.set("Upstash-Signature", await signDelivery(this.options.currentSigningKey, message.url, message.body));
    headers.set("Upstash-Message-Id", message.messageId);
    headers.set("Upstash-Retried", String(message.retried));
    if (message.scheduleId) headers.set("Upstash-Schedule-Id", message.scheduleId);
    try {
      const response = await fetch(message.url, {
        method: message.method,
        headers,
        body: message.method === "GET" || message.method === "HEAD" ? undefined : message.body,
        signal: AbortSignal.timeout(this.options.deliveryTimeoutMs ?? 60_000),
      });
      const nonRetryable = response.status === 489 && response.headers.get("upstash-nonretryable-error") === "true";
      return { status: response.status, body: await response.text(), nonRetryable };
    } catch {
      return { status: 0, body: "", nonRetryable: false };
    }
  }

  /** QStash's callback: a signed POST describing the original message and the answer it got. */
  private sendCallback(url: string, source: StoredMessage, status: number, responseBody: string, dlqId?: string) {
    const body = JSON.stringify({
      status,
      header: {},
      body: Buffer.from(responseBody).toString("base64"),
      retried: source.retried,
      maxRetries: source.maxRetries,
      ...(dlqId && { dlqId }),
      sourceMessageId: source.messageId,
      url: source.url,
      method: source.method,
      sourceHeader: source.header,
      sourceBody: Buffer.from(source.body).toString("base64"),
      notBefore: source.notBefore,
      createdAt: source.createdAt,
      ...(source.scheduleId && { scheduleId: source.scheduleId }),
      ...(source.queueName && { queueName: source.queueName }),
    });
    this.publish({
      url,
      method: "POST",
      body,
      header: { "Content-Type": ["application/json"] },
      notBefore: Date.now(),
      maxRetries: this.retriesFor(undefined),
      isCallback: true,
    });
  }
}
