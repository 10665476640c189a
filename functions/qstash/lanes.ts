// How QStash carries each lane (ARCHITECTURE.md §1, "Routing (doorbells)"); which priorities make a lane
// is functions/lib/lanes.ts.
import { LANE_PRIORITIES, LANES, type Lane, laneFor } from "../lib/lanes.js";

export { LANE_PRIORITIES, LANES, type Lane, laneFor };

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

/**
 * How long a lane gathers changes under one doorbell, delivered at the window's end (the immediate lane
 * rings at once): the changes that come meanwhile find the lane held and ring nothing. No change waits
 * more than a window for its run; the batched lane's four minutes keep its five.
 */
export const COALESCE_WINDOW_MS: Record<Lane, number> = { immediate: 500, queued: 2000, database: 240_000 };

export function coalescingWindow(lane: Lane, now: number) {
  const width = COALESCE_WINDOW_MS[lane];
  const window = Math.floor(now / width);
  return { window, deliverAt: (window + 1) * width };
}
