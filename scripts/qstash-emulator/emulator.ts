// The QStash emulator's engine: messages, FIFO queues, flow control, schedules on cron (with CRON_TZ),
// deduplication, signed deliveries with retries and back-off (or the destination's Retry-After), the
// account's cap of deliveries in flight, the DLQ and callbacks, and a plan's daily meter. All its time
// comes from a clock (the machine's, or one a test holds). Upstash's own dev server downloads a binary,
// which cannot work offline; this speaks the same HTTP API (see http.ts, where requests are checked
// against the plan).
import { randomUUID } from "node:crypto";
import type { Cron } from "croner";
import { type Clock, MAX_TIMER_MS, systemClock, type TimerHandle } from "./clock";
import { cronJob } from "./cron";
import { type PlanLimits, type PlanName, planLimits } from "./plans";
import { askedRetryMs, type Backoff, retryDelayMs } from "./retry";
import { signDelivery } from "./sign";

export { cronJob };

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
  /** Computes the cron's runs; the emulator's clock fires them. */
  job: Cron;
  timer?: Wait;
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
  /**
   * Waits before retries: QStash's own back-off by default ("qstash"); "fast", the named mode tests use;
   * or milliseconds before retry n (1-based). A destination's Retry-After is honoured in every mode
   * ("fast" shortens it as it shortens the back-off).
   */
  backoff?: Backoff;
  /** Where time comes from: the machine's clock unless a test holds one (clock.ts). */
  clock?: Clock;
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

type Flow = { running: number; windowStart: number; inWindow: number; waiting: StoredMessage[]; timer?: Wait };

/** A wait on the emulator's clock, however long: cancel() stops it. */
export type Wait = { cancel(): void };

/** A UTC day's meter: publish requests (deduplicated ones among them) and delivery attempts. */
export type Usage = { publishes: number; deduplicated: number; deliveries: number };

const utcDay = (at: number) => new Date(at).toISOString().slice(0, 10);

export class QStashEmulator {
  readonly messages = new Map<string, StoredMessage>();
  readonly queues = new Map<string, Queue>();
  readonly schedules = new Map<string, Schedule>();
  readonly dlq = new Map<string, DlqMessage>();
  readonly deliveries: DeliveryRecord[] = [];
  readonly limits: PlanLimits;
  faults: Faults = {};
  readonly clock: Clock;
  private readonly dedup = new Map<string, { messageId: string; until: number }>();
  private readonly timers = new Map<string, Wait>();
  private readonly waits = new Set<Wait>();
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, StoredMessage[]>();
  private readonly flows = new Map<string, Flow>();
  private readonly usage = new Map<string, Usage>();
  /** Deliveries in flight across the account (the plan's `parallelism`), and the attempts waiting for one to end. */
  private inFlight = 0;
  private readonly slotQueue: (() => void)[] = [];
  private closed = false;

  constructor(readonly options: EmulatorOptions) {
    this.limits = planLimits(options.plan, options.limits);
    this.clock = options.clock ?? systemClock();
  }

  now() {
    return this.clock.now();
  }

  /**
   * Runs `run` once the clock reaches `at`. Node's timers overflow past 2^31-1 ms (a not-before beyond
   * 24.8 days would fire after 1 ms and be re-armed every millisecond), so a long wait is armed in chunks.
   */
  at(at: number, run: () => void): Wait {
    let handle: TimerHandle | undefined;
    const wait: Wait = {
      cancel: () => {
        this.clock.clearTimeout(handle);
        this.waits.delete(wait);
      },
    };
    const arm = () => {
      const left = at - this.clock.now();
      if (left > 0 || handle === undefined) {
        handle = this.clock.setTimeout(arm, Math.min(Math.max(0, left), MAX_TIMER_MS));
        return;
      }
      this.waits.delete(wait);
      run();
    };
    this.waits.add(wait);
    arm();
    return wait;
  }

  private sleep(ms: number) {
    return new Promise<void>((resolve) => this.at(this.now() + ms, resolve));
  }

  refusesPublish(): boolean {
    const refuse = this.faults.refusePublish;
    return typeof refuse === "function" ? refuse() : !!refuse;
  }

  /**
   * The meter of the UTC day of `at`, both of Upstash's counts kept:
   * - publish requests: "The daily rate limit refers to the maximum number of messages that can be
   *   published per day. It is consumed by new message requests like publish, enqueue" (an Upstash
   *   engineer, upstash/docs PR #271 review, 2024-09-23); a schedule's trigger is one ("Publish request:
   *   You publish a message or schedule, or a schedule creates a message when it triggers", the older
   *   pricing page, docs.upstash.com/qstash/pricing), and so is each message of a batch. Whether a
   *   deduplicated request counts is documented nowhere: "When a duplicate message is detected, it is
   *   accepted by QStash but not enqueued" (docs: qstash/features/deduplication). The emulator counts it
   *   (the bill a pipeline must survive is the larger one) and shows how many there were;
   * - delivery attempts: "Each delivery attempt counts as one message … each retry is counted as an
   *   additional message" (pricing FAQ), callbacks included.
   */
  usageOn(at = this.now()): Usage {
    return { ...(this.usage.get(utcDay(at)) ?? { publishes: 0, deduplicated: 0, deliveries: 0 }) };
  }

  private count(kind: "publish" | "deduplicated" | "delivery") {
    const day = utcDay(this.now());
    const usage = this.usage.get(day) ?? { publishes: 0, deduplicated: 0, deliveries: 0 };
    if (kind === "delivery") usage.deliveries++;
    else usage.publishes++;
    if (kind === "deduplicated") usage.deduplicated++;
    this.usage.set(day, usage);
  }

  /** Billed delivery attempts (retries and callbacks included) on the UTC day of `at`. */
  messagesOn(at = this.now()): number {
    return this.usageOn(at).deliveries;
  }

  /** Messages left today under the plan's daily limit: the lower of what publishes and deliveries leave. */
  quotaLeft(now = this.now()): number {
    const { publishes, deliveries } = this.usageOn(now);
    return this.limits.messagesPerDay - Math.max(publishes, deliveries);
  }

  /** GET /v2/globalParallelism's answer: the plan's cap and the deliveries in flight now. */
  globalParallelism() {
    return { parallelismMax: this.limits.parallelism, parallelismCount: this.inFlight };
  }

  /** Retries a message may have: what it asks for, at most the plan's maximum. */
  retriesFor(requested: number | undefined): number {
    return Math.min(requested ?? this.options.defaultRetries ?? this.limits.retries, this.limits.retries);
  }

  /**
   * Accepts a message; answers the existing id when its deduplication id was seen recently. A publish
   * request (`request`: the API's, a DLQ retry, a schedule's trigger) is metered; our own callbacks are not.
   */
  publish(input: NewMessage, deduplicationId?: string, request = true): { messageId: string; deduplicated?: boolean } {
    const now = this.now();
    if (deduplicationId) {
      const seen = this.dedup.get(deduplicationId);
      if (seen && seen.until > now) {
        if (request) this.count("deduplicated");
        return { messageId: seen.messageId, deduplicated: true };
      }
    }
    if (request) this.count("publish");
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
    this.timers.get(messageId)?.cancel();
    this.timers.delete(messageId);
    for (const list of [...this.waiting.values(), ...[...this.flows.values()].map((f) => f.waiting)]) {
      const index = list.findIndex((m) => m.messageId === messageId);
      if (index >= 0) list.splice(index, 1);
    }
    return this.messages.delete(messageId);
  }

  upsertQueue(name: string, parallelism: number, paused: boolean) {
    const now = this.now();
    const existing = this.queues.get(name);
    this.queues.set(name, { name, parallelism: Math.max(1, parallelism), paused, createdAt: existing?.createdAt ?? now, updatedAt: now });
    this.pump(name);
  }

  setQueuePaused(name: string, paused: boolean) {
    const queue = this.queues.get(name);
    if (!queue) return false;
    queue.paused = paused;
    queue.updatedAt = this.now();
    this.pump(name);
    return true;
  }

  /** Creates or replaces a schedule. `CRON_TZ=<zone> ` before the fields names its time zone (UTC otherwise). */
  upsertSchedule(input: Omit<Schedule, "createdAt" | "isPaused" | "job" | "timer">): string {
    const job = cronJob(input.cron);
    const previous = this.schedules.get(input.scheduleId);
    previous?.timer?.cancel();
    const schedule: Schedule = { ...input, createdAt: previous?.createdAt ?? this.now(), isPaused: false, job };
    this.schedules.set(input.scheduleId, schedule);
    this.armSchedule(schedule);
    return input.scheduleId;
  }

  /** Waits on the emulator's clock for the cron's next run, fires, and waits for the one after. */
  private armSchedule(schedule: Schedule) {
    const next = schedule.job.nextRun(new Date(this.now()));
    if (!next || this.closed) return;
    schedule.timer = this.at(next.getTime(), () => {
      this.fire(schedule);
      this.armSchedule(schedule);
    });
  }

  /**
   * Publishes a schedule's message now, as its cron would (tests need not wait a minute). Metered as a
   * publish request; whether QStash still fires a schedule once the day's limit is spent is documented
   * nowhere, and the emulator fires it.
   */
  fire(schedule: Schedule) {
    if (schedule.isPaused || this.closed) return;
    this.publish({
      url: schedule.destination,
      method: schedule.method,
      body: schedule.body,
      header: schedule.header,
      notBefore: this.now(),
      maxRetries: schedule.retries,
      scheduleId: schedule.scheduleId,
      callback: schedule.callback,
      failureCallback: schedule.failureCallback,
    });
  }

  deleteSchedule(id: string): boolean {
    this.schedules.get(id)?.timer?.cancel();
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
    return this.publish({ ...message, notBefore: this.now() });
  }

  close() {
    this.closed = true;
    for (const wait of [...this.waits]) wait.cancel();
  }

  /** The wait before the retry now due: the destination's Retry-After if it gave one, else the back-off. */
  private retryDelay(message: StoredMessage, asked: number | undefined) {
    return retryDelayMs(this.options.backoff ?? "qstash", message.retried, asked);
  }

  /**
   * Waits `delayMs`, and never less than the message's not-before: QStash delays a message "until a certain
   * time" (https://upstash.com/docs/qstash/features/delay, "Absolute Delay").
   */
  private scheduleAttempt(message: StoredMessage, delayMs: number) {
    delayMs += this.faults.jitterMs?.() ?? 0;
    const wait = this.at(Math.max(this.now() + delayMs, message.notBefore), () => {
      this.timers.delete(message.messageId);
      if (message.queueName) this.enterQueue(message);
      else if (message.flowControl) this.enterFlow(message);
      else
        void this.attempt(message).then(
          (outcome) => outcome.next === "retry" && this.scheduleAttempt(message, this.retryDelay(message, outcome.retryAfterMs)),
        );
    });
    this.timers.set(message.messageId, wait);
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
    for (;;) {
      const outcome = await this.attempt(message);
      if (outcome.next !== "retry" || this.closed) return;
      await this.sleep(this.retryDelay(message, outcome.retryAfterMs));
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
        const now = this.now();
        if (now - flow.windowStart >= periodMs) Object.assign(flow, { windowStart: now, inWindow: 0 });
        if (flow.inWindow >= rate) {
          flow.timer ??= this.at(flow.windowStart + periodMs, () => {
            flow.timer = undefined;
            this.pumpFlow(key);
          });
          return;
        }
        flow.inWindow++;
      }
      flow.waiting.shift();
      flow.running++;
      void this.attempt(next)
        .then((outcome) => outcome.next === "retry" && this.scheduleAttempt(next, this.retryDelay(next, outcome.retryAfterMs)))
        .finally(() => {
          flow.running--;
          this.pumpFlow(key);
        });
    }
  }

  /**
   * A place among the account's deliveries in flight (the plan's "Max Parallelism"): an attempt past the
   * cap waits, in arrival order, for one to end; none is refused.
   */
  private async takeSlot() {
    if (this.inFlight < this.limits.parallelism) {
      this.inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.slotQueue.push(resolve));
  }

  /** Hands the place to the next waiting attempt, or frees it. */
  private releaseSlot() {
    const next = this.slotQueue.shift();
    if (next) next();
    else this.inFlight--;
  }

  /**
   * One delivery attempt: settles the message (delivered, or to the DLQ), or says a retry is due and the
   * wait the destination asked for, if it did.
   */
  private async attempt(message: StoredMessage): Promise<{ next: "settled" | "retry"; retryAfterMs?: number }> {
    if (this.closed || !this.messages.has(message.messageId)) return { next: "settled" };
    await this.takeSlot();
    let answer: Awaited<ReturnType<QStashEmulator["deliver"]>>;
    try {
      if (this.closed || !this.messages.has(message.messageId)) return { next: "settled" };
      answer = await this.deliver(message);
    } finally {
      this.releaseSlot();
    }
    const { status, body, nonRetryable, retryAfterMs } = answer;
    this.count("delivery");
    this.deliveries.push({ messageId: message.messageId, url: message.url, status, retried: message.retried, at: this.now() });
    this.options.log?.(
      `${message.method} ${message.url} → ${status || "no answer"}${message.retried ? ` (retry ${message.retried})` : ""}`,
    );
    if (status >= 200 && status < 300) {
      this.messages.delete(message.messageId);
      if (message.callback) this.sendCallback(message.callback, message, status, body);
      if (this.faults.duplicateDelivery?.(message)) {
        const { messageId: _, createdAt: __, retried: ___, ...copy } = message;
        this.publish({ ...copy, notBefore: this.now() + (this.faults.jitterMs?.() ?? 0) }, undefined, false);
      }
      return { next: "settled" };
    }
    // "respond with a 489 status code and include the header Upstash-NonRetryable-Error: true … QStash will
    // immediately mark the message as failed and skip any further retry attempts. The message will then
    // be forwarded to the Dead Letter Queue" (https://upstash.com/docs/qstash/features/retry).
    if (!nonRetryable && message.retried < message.maxRetries) {
      message.retried++;
      return { next: "retry", retryAfterMs };
    }
    this.messages.delete(message.messageId);
    if (message.isCallback) return { next: "settled" };
    const dlqId = `dlq_${randomUUID().replace(/-/g, "")}`;
    this.dlq.set(dlqId, { ...message, dlqId, responseStatus: status, responseBody: body });
    if (message.failureCallback) this.sendCallback(message.failureCallback, message, status, body, dlqId);
    return { next: "settled" };
  }

  private async deliver(message: StoredMessage): Promise<{ status: number; body: string; nonRetryable: boolean; retryAfterMs?: number }> {
    if (this.faults.failDelivery?.(message)) return { status: 500, body: "emulator: injected delivery failure", nonRetryable: false };
    const headers = new Headers();
    for (const [name, values] of Object.entries(message.header)) for (const value of values) headers.append(name, value);
    headers.set("Upstash-Signature", await signDelivery(this.options.currentSigningKey, message.url, message.body, this.now()));
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
      const ok = response.status >= 200 && response.status < 300;
      const retryAfterMs = ok ? undefined : askedRetryMs(response.headers, this.now());
      return { status: response.status, body: await response.text(), nonRetryable, retryAfterMs };
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
    this.publish(
      {
        url,
        method: "POST",
        body,
        header: { "Content-Type": ["application/json"] },
        notBefore: this.now(),
        maxRetries: this.retriesFor(undefined),
        isCallback: true,
      },
      undefined,
      false,
    );
  }
}
