// Doorbells: QStash carries no items, only "this lane has pending rows". The embedding_queue row is the
// one record of pending work for every lane; a doorbell tells process-webhook to claim its lane's rows
// and serve them as the drain does. The lane state (functions/queue/lane-state.ts) lets one be on its
// way per lane at a time; the drain's schedule is the safety net for a doorbell that was lost.
import { deduplicationId } from "./deduplication-id.js";
import { coalescingWindow, type Lane, QUEUED_LANE } from "./lanes.js";
import type { Message } from "./publisher.js";
import { FALLBACK_WINDOW_MS } from "./spend-ledger.js";

export type Doorbell = { doorbell: Lane; batchSize?: number };

/**
 * QStash's first retry comes after 12 s (e ** 2.5, docs: features/retry), past the immediate lane's
 * seconds: its doorbells ask for 1 s, 2 s, 3 s instead (Upstash-Retry-Delay, the same page). A retry is
 * billed only when a delivery failed, so the promise costs nothing while deliveries succeed.
 */
const IMMEDIATE_RETRY_DELAY = "1000 * (1 + retried)";

/** How long a rung lane stays held past its doorbell's delivery time: its retries, and a slow start. */
const RING_GRACE_MS: Record<Lane, number> = { immediate: 10_000, queued: 30_000, database: 60_000 };

function ring(lane: Lane, id: string | undefined, deliverAt?: number, batchSize?: number): Message {
  return {
    endpoint: "process-webhook",
    body: { doorbell: lane, batchSize } satisfies Doorbell,
    deduplicationId: id,
    deliverAt,
    retryDelay: lane === "immediate" ? IMMEDIATE_RETRY_DELAY : undefined,
    // The queued lane's bound on runs at once; on publish (an enqueue into a queue takes no not-before).
    flowControl: lane === "queued" ? { key: QUEUED_LANE.flowControlKey, parallelism: QUEUED_LANE.parallelism } : undefined,
  };
}

/**
 * The one doorbell for changes in `lane` now, rung only by the enqueue that found the lane idle: the
 * immediate lane at once, the others at their window's end, so their changes gather under it. No
 * deduplication id: the lane state already lets one ring, and a window's id would swallow the ring that
 * follows a run letting the lane go within the same window.
 */
export function doorbellFor(lane: Lane, now: number): Message {
  return ring(lane, undefined, lane === "immediate" ? undefined : coalescingWindow(lane, now).deliverAt);
}

/** How long a lane stays held for a doorbell rung `now`: until it is due, plus its grace. */
export const ringLeaseMs = (lane: Lane, message: Message, now: number) =>
  Math.max(0, (message.deliverAt ?? now) - now) + RING_GRACE_MS[lane];

/**
 * The doorbell a run rings when its budget ran out with rows left, with the batch size that fit; named by
 * its own signed call, so a retried run rings once.
 */
export const doorbellAfter = (lane: Lane, after: string | number, batchSize?: number) =>
  ring(lane, deduplicationId("doorbell-after", lane, after), undefined, batchSize);

/** The lane state's name for the lanes' fallback call to the drain. */
export const FALLBACK_LANE = "drain";

/**
 * Once the lanes' share of the day is spent: one call to the drain at the end of the current five
 * minutes, whichever lanes changed, so every change still waits at most five minutes.
 */
export function fallbackDrainCall(now: number): Message {
  const window = Math.floor(now / FALLBACK_WINDOW_MS);
  return {
    endpoint: "drain",
    body: {},
    deduplicationId: deduplicationId("drain-fallback", window),
    deliverAt: (window + 1) * FALLBACK_WINDOW_MS,
  };
}
