// Sends each change down its lane (DESIGN.md section 1, "Routing"): QStash now, a QStash queue, or
// the database queue; and the database queue whenever QStash cannot take it. Nothing is dropped.
import type { Deps } from "../deps.js";
import { uniqueItems } from "../core/item.js";
import { coalescingWindow, laneFor, QUEUED_LANE, type Lane } from "../queue/lanes.js";
import type { Message } from "../queue/publisher.js";
import { queueItems } from "../queue/queue-items.js";
import type { Change } from "./changes.js";

export type Routed = { contentType: string; contentId: string; lane: Lane | "skipped"; fallback?: boolean };

/**
 * An item handed to QStash also gets a queue row due this late: if QStash never delivers (and its
 * failure callback is lost too), the drain still embeds it. A delivery that succeeds settles the row.
 */
export const SAFETY_NET_MS = 10 * 60_000;

export const PROCESS_ENDPOINT = "process-webhook";
export const FAILURE_ENDPOINT = "process-webhook/failed";

/**
 * The messages for one change. Each window's deduplication id makes a burst of edits one delivery
 * at the window's end; the immediate lane also delivers at once (leading edge) so a single change
 * is searchable without waiting for the window.
 */
export function messagesFor(change: Change, lane: "immediate" | "queued", now: number): Message[] {
  const { window, deliverAt } = coalescingWindow(lane, now);
  const key = `${change.contentType}:${change.contentId}:${window}`;
  const base = {
    endpoint: PROCESS_ENDPOINT, failureEndpoint: FAILURE_ENDPOINT,
    body: { contentType: change.contentType, contentId: change.contentId },
    queueName: lane === "queued" ? QUEUED_LANE.queueName : undefined,
  };
  const trailing: Message = { ...base, deduplicationId: `${key}:end`, deliverAt };
  return lane === "immediate" ? [{ ...base, deduplicationId: `${key}:start` }, trailing] : [trailing];
}

export async function routeChanges(deps: Deps, changes: Change[], now = Date.now()): Promise<Routed[]> {
  const routed: Routed[] = [];
  const toDatabase: Change[] = [];
  const toQStash: Change[] = [];
  for (const change of uniqueItems(changes)) {
    const lane = laneFor(change.priority);
    if (change.unchanged) routed.push({ ...pick(change), lane: "skipped" });
    else if (lane === "database" || deps.config.strategy === "database" || !deps.publisher) toDatabase.push(change);
    else toQStash.push(change);
  }
  if (toQStash.length > 0) {
    try {
      const messages = toQStash.flatMap((c) => messagesFor(c, laneFor(c.priority) as "immediate" | "queued", now));
      await deps.publisher!.publish(messages);
      await queueItems(deps.db, toQStash, "webhook", SAFETY_NET_MS);
      routed.push(...toQStash.map((c) => ({ ...pick(c), lane: laneFor(c.priority) })));
    } catch (error) {
      console.warn(`[enqueue] QStash publish failed, ${toQStash.length} items go to the database queue:`, error instanceof Error ? error.message : error);
      await queueItems(deps.db, toQStash, "fallback");
      routed.push(...toQStash.map((c) => ({ ...pick(c), lane: "database" as const, fallback: true })));
    }
  }
  await queueItems(deps.db, toDatabase, "webhook");
  routed.push(...toDatabase.map((c) => ({ ...pick(c), lane: "database" as const })));
  return routed;
}

const pick = (c: Change) => ({ contentType: c.contentType, contentId: c.contentId });
