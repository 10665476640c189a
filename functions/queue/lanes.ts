// Priority decides the lane (DESIGN.md section 1, "Routing").

export type Lane = "immediate" | "queued" | "database";

/**
 * The 3–4 lane's bound on deliveries at once: a flow-control key on publish, not a queue, because an
 * enqueue takes no not-before (upstash/docs #225) and Upstash steers bounded parallelism to flow control
 * (docs: Upsert a Queue). Flow-control parallelism is not held to the queues' plan maximum (Free: 2).
 */
export const QUEUED_LANE = { flowControlKey: "embeddings-queued", parallelism: 5 };

/**
 * The QStash queue a drain's call to itself waits in. Every minute's scheduled drain may start a chain
 * while a backlog lasts; in this queue, however many chains there are, this many run at once.
 */
export const DRAIN_CHAIN = { queueName: "embeddings-drain", parallelism: 2 };

/** The QStash queues the pipeline uses, as `npm run schedules` and the local stack create them. */
export const QUEUES = [DRAIN_CHAIN];

export function laneFor(priority: number): Lane {
  if (priority <= 2) return "immediate";
  if (priority <= 4) return "queued";
  return "database";
}

/**
 * How long a lane waits so that a burst of edits to one row becomes one delivery: every change in the
 * same window shares a deduplication id and is delivered once, at the window's end, reading the row
 * as it is then. A later change falls in a new window, so no edit is ever dropped.
 */
export const COALESCE_WINDOW_MS: Record<Exclude<Lane, "database">, number> = { immediate: 500, queued: 2000 };

export function coalescingWindow(lane: Exclude<Lane, "database">, now: number) {
  const width = COALESCE_WINDOW_MS[lane];
  const window = Math.floor(now / width);
  return { window, deliverAt: (window + 1) * width };
}
