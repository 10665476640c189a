// The QStash emulator's engine: messages, queues with parallelism, schedules on cron, deduplication,
// signed deliveries with retries and backoff, the DLQ and callbacks. Upstash's own dev server downloads
// a binary, which cannot work offline; this speaks the same HTTP API (see http.ts).
import { randomUUID } from "node:crypto";
import { Cron } from "croner";
import { signDelivery } from "./sign";

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
  scheduleId?: string;
  /** Set on the callback deliveries we make, which are never called back themselves. */
  isCallback?: boolean;
};

export type Queue = { name: string; parallelism: number; paused: boolean; createdAt: number; updatedAt: number };

export type Schedule = {
  scheduleId: string; cron: string; destination: string; method: string; body: string;
  header: Record<string, string[]>; retries: number; failureCallback?: string; callback?: string;
  createdAt: number; isPaused: boolean; job: Cron;
};

export type DlqMessage = StoredMessage & { dlqId: string; responseStatus: number; responseBody: string };

export type EmulatorOptions = {
  token: string;
  currentSigningKey: string;
  nextSigningKey: string;
  /** Milliseconds to wait before retry n (1-based). QStash backs off exponentially; tests go faster. */
  backoff?: (retry: number) => number;
  /** Default retries when a message names none. */
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
  /** Answer 500 instead of delivering, while true for the delivery. */
  failDelivery?: (message: StoredMessage) => boolean;
  /** Deliver a successful message once more, later (QStash delivers at least once). */
  duplicateDelivery?: (message: StoredMessage) => boolean;
  /** Extra delay before each attempt, so deliveries overtake each other. */
  jitterMs?: () => number;
};

export type DeliveryRecord = { messageId: string; url: string; status: number; retried: number; at: number };

export class QStashEmulator {
  readonly messages = new Map<string, StoredMessage>();
  readonly queues = new Map<string, Queue>();
  readonly schedules = new Map<string, Schedule>();
  readonly dlq = new Map<string, DlqMessage>();
  readonly deliveries: DeliveryRecord[] = [];
  faults: Faults = {};
  private readonly dedup = new Map<string, { messageId: string; until: number }>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, StoredMessage[]>();
  private closed = false;

  constructor(readonly options: EmulatorOptions) {}

  refusesPublish(): boolean {
    const refuse = this.faults.refusePublish;
    return typeof refuse === "function" ? refuse() : !!refuse;
  }

  /** Accepts a message; answers the existing id when its deduplication id was seen recently. */
  publish(input: Omit<StoredMessage, "messageId" | "createdAt" | "retried">, deduplicationId?: string): { messageId: string; deduplicated?: boolean } {
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
    this.scheduleAttempt(message, Math.max(0, message.notBefore - now));
    return { messageId: message.messageId };
  }

  cancel(messageId: string): boolean {
    const timer = this.timers.get(messageId);
    if (timer) clearTimeout(timer);
    this.timers.delete(messageId);
    for (const list of this.waiting.values()) {
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

  upsertSchedule(input: Omit<Schedule, "createdAt" | "isPaused" | "job">): string {
    this.schedules.get(input.scheduleId)?.job.stop();
    const job = new Cron(input.cron, { timezone: "UTC" }, () => {
      if (schedule.isPaused || this.closed) return;
      this.publish({
        url: schedule.destination, method: schedule.method, body: schedule.body, header: schedule.header,
        notBefore: Date.now(), maxRetries: schedule.retries, scheduleId: schedule.scheduleId,
        callback: schedule.callback, failureCallback: schedule.failureCallback,
      });
    });
    const schedule: Schedule = { ...input, createdAt: this.schedules.get(input.scheduleId)?.createdAt ?? Date.now(), isPaused: false, job };
    this.schedules.set(input.scheduleId, schedule);
    return input.scheduleId;
  }

  deleteSchedule(id: string): boolean {
    this.schedules.get(id)?.job.stop();
    return this.schedules.delete(id);
  }

  close() {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    for (const schedule of this.schedules.values()) schedule.job.stop();
  }

  private scheduleAttempt(message: StoredMessage, delayMs: number) {
    delayMs += this.faults.jitterMs?.() ?? 0;
    const timer = setTimeout(() => {
      this.timers.delete(message.messageId);
      if (message.queueName) this.enterQueue(message);
      else void this.attempt(message);
    }, delayMs);
    this.timers.set(message.messageId, timer);
  }

  private enterQueue(message: StoredMessage) {
    const name = message.queueName!;
    // QStash creates a queue on first use with parallelism 1.
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
      void this.attempt(message).finally(() => {
        this.running.set(name, (this.running.get(name) ?? 1) - 1);
        this.pump(name);
      });
    }
  }

  /** One delivery attempt; on failure either schedules the next retry or moves the message to the DLQ. */
  private async attempt(message: StoredMessage): Promise<void> {
    if (this.closed || !this.messages.has(message.messageId)) return;
    const { status, body } = await this.deliver(message);
    this.deliveries.push({ messageId: message.messageId, url: message.url, status, retried: message.retried, at: Date.now() });
    this.options.log?.(`${message.method} ${message.url} → ${status || "no answer"}${message.retried ? ` (retry ${message.retried})` : ""}`);
    if (status >= 200 && status < 300) {
      this.messages.delete(message.messageId);
      if (message.callback) this.sendCallback(message.callback, message, status, body);
      if (this.faults.duplicateDelivery?.(message)) {
        const { messageId: _, createdAt: __, retried: ___, ...copy } = message;
        this.publish({ ...copy, notBefore: Date.now() + (this.faults.jitterMs?.() ?? 0) });
      }
      return;
    }
    if (message.retried < message.maxRetries) {
      message.retried++;
      const backoff = this.options.backoff ?? ((n: number) => Math.min(2 ** n * 1000, 60_000));
      // A queued message gives its slot back while it waits, and queues again for the retry.
      this.scheduleAttempt(message, backoff(message.retried));
      return;
    }
    this.messages.delete(message.messageId);
    if (message.isCallback) return;
    const dlqId = `dlq_${randomUUID().replace(/-/g, "")}`;
    this.dlq.set(dlqId, { ...message, dlqId, responseStatus: status, responseBody: body });
    if (message.failureCallback) this.sendCallback(message.failureCallback, message, status, body, dlqId);
  }

  private async deliver(message: StoredMessage): Promise<{ status: number; body: string }> {
    if (this.faults.failDelivery?.(message)) return { status: 500, body: "emulator: injected delivery failure" };
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
      return { status: response.status, body: await response.text() };
    } catch {
      return { status: 0, body: "" };
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
      url, method: "POST", body, header: { "Content-Type": ["application/json"] }, notBefore: Date.now(),
      maxRetries: this.options.defaultRetries ?? 3, isCallback: true,
    });
  }
}
