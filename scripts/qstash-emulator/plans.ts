// QStash's plans and the limits the emulator enforces for each. Figures from the pricing pages
// (https://upstash.com/docs/qstash/overall/pricing, https://upstash.com/pricing/qstash.md, "Compare
// Plans"); `free` is the default, so tests and the local stack prove the pipeline runs on the Free plan.

export type PlanName = "free" | "payg" | "fixed1m";

export type PlanLimits = {
  /**
   * Messages a day: publish requests and delivery attempts are each held to it (see QStashEmulator.usageOn
   * for the sources of both).
   */
  messagesPerDay: number;
  /**
   * "Max Parallelism": deliveries in flight at once across the account. "QStash accepts all message
   * publish requests, but if the publish rate is too high, QStash slows down delivery by limiting how many
   * messages are sent in parallel. Additional messages are queued and delivered later, but they are not
   * lost." (pricing FAQ, "Is there a rate limit?"). Free 10, pay-as-you-go 100, Fixed 1M 200: the pricing
   * page's data (upstash/upstash-web src/data/pricing/qstash.ts, maxParallelism); the account's figure is
   * GET /v2/globalParallelism's parallelismMax (docs: qstash/features/flowcontrol, "Get global parallelism").
   */
  parallelism: number;
  /** "Max Queue Count". */
  queues: number;
  /** "Max Queue Parallelism": the highest parallelism a queue may be given. */
  queueParallelism: number;
  /** "Max Active Schedules". */
  schedules: number;
  /** "Max Retry Count": also the default when a message names none ("By default, we retry the maximum amount of times", features/retry). */
  retries: number;
};

export const PLANS: Record<PlanName, PlanLimits> = {
  free: { messagesPerDay: 1000, parallelism: 10, queues: 10, queueParallelism: 2, schedules: 10, retries: 3 },
  payg: { messagesPerDay: Infinity, parallelism: 100, queues: 100, queueParallelism: 10, schedules: 1000, retries: 5 },
  // "Fixed 1M" (formerly "Pro 1M"): retries per the older pricing table (Pro: 20).
  fixed1m: { messagesPerDay: 1_000_000, parallelism: 200, queues: 1000, queueParallelism: 10, schedules: 10_000, retries: 20 },
};

export const planLimits = (plan: PlanName = "free", overrides: Partial<PlanLimits> = {}): PlanLimits => ({ ...PLANS[plan], ...overrides });

export const isPlanName = (name: string | undefined): name is PlanName => !!name && name in PLANS;
