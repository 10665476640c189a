// Doorbells: QStash carries no items, only "this lane has pending rows". The embedding_queue row is the
// one record of pending work for every lane; a doorbell tells process-webhook to claim its lane's rows
// and process them as one batch, as the drain does. The drain's schedule is the safety net for a
// doorbell that was lost.
import { deduplicationId } from "./deduplication-id.js";
import { coalescingWindow, QUEUED_LANE, type Lane } from "./lanes.js";
import type { Message } from "./publisher.js";

export type Doorbell = { doorbell: Lane; batchSize?: number };

function ring(lane: Lane, id: string, deliverAt?: number, batchSize?: number): Message {
  return {
    endpoint: "process-webhook",
    failureEndpoint: "process-webhook/failed",
    body: { doorbell: lane, batchSize } satisfies Doorbell,
    deduplicationId: id,
    deliverAt,
    // The queued lane's bound on runs at once; on publish (an enqueue into a queue takes no not-before).
    flowControl: lane === "queued" ? { key: QUEUED_LANE.flowControlKey, parallelism: QUEUED_LANE.parallelism } : undefined,
  };
}

/**
 * The doorbells for changes in `lane` now: one per coalescing window, at its end (the immediate lane's
 * also at once). Every change of the window rings the same deduplication ids, so QStash delivers each
 * once, however many changes there were.
 */
export function doorbellsFor(lane: Lane, now: number): Message[] {
  const { window, deliverAt } = coalescingWindow(lane, now);
  const trailing = ring(lane, deduplicationId("doorbell", lane, window, "end"), deliverAt);
  return lane === "immediate" ? [ring(lane, deduplicationId("doorbell", lane, window, "start")), trailing] : [trailing];
}

/**
 * The doorbell a run rings when its budget ran out with rows left, with the batch size that fit; named by
 * its own signed call, so a retried run rings once.
 */
export const doorbellAfter = (lane: Lane, after: string | number, batchSize?: number) =>
  ring(lane, deduplicationId("doorbell-after", lane, after), undefined, batchSize);
