// Sends each change down its lane (DESIGN.md section 1, "Routing"): QStash now, QStash under a
// flow-control key, or the database queue; and the database queue whenever QStash cannot take it.
// Nothing is dropped.
import type { Deps } from "../deps";
import { itemKey, uniqueItems } from "../core/item";
import { deduplicationId } from "../queue/deduplication-id";
import { coalescingWindow, laneFor, QUEUED_LANE, type Lane } from "../queue/lanes";
import type { Message } from "../queue/publisher";
import { queueItems } from "../queue/queue-items";
import type { Change } from "./changes";

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
 * is searchable without waiting for the window. The queued lane publishes with not-before under a
 * flow-control key: an enqueue into a queue would be refused for its not-before.
 */
export function messagesFor(change: Change, lane: "immediate" | "queued", now: number): Message[] {
  const { window, deliverAt } = coalescingWindow(lane, now);
  const id = (edge: string) => deduplicationId(change.contentType, change.contentId, window, edge);
  const base = {
    endpoint: PROCESS_ENDPOINT, failureEndpoint: FAILURE_ENDPOINT,
    body: { contentType: change.contentType, contentId: change.contentId },
    flowControl: lane === "queued" ? { key: QUEUED_LANE.flowControlKey, parallelism: QUEUED_LANE.parallelism } : undefined,
  };
  const trailing: Message = { ...base, deduplicationId: id("end"), deliverAt };
  return lane === "immediate" ? [{ ...base, deduplicationId: id("start") }, trailing] : [trailing];
}

/** Publishes the changes' messages; answers the changes QStash refused, whole request or message by message. */
async function publishChanges(deps: Deps, changes: Change[], now: number): Promise<{ refused: Change[]; reason?: string }> {
  const perChange = changes.map((c) => messagesFor(c, laneFor(c.priority) as "immediate" | "queued", now));
  try {
    const sent = await deps.publisher!.publish(perChange.flat());
    const refused = new Map<string, string>();
    let at = 0;
    changes.forEach((change, n) => {
      for (const answer of sent.slice(at, (at += perChange[n]!.length))) if ("error" in answer) refused.set(itemKey(change), answer.error);
    });
    return { refused: changes.filter((c) => refused.has(itemKey(c))), reason: [...new Set(refused.values())].join("; ") };
  } catch (error) {
    return { refused: changes, reason: error instanceof Error ? error.message : String(error) };
  }
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
    const { refused, reason } = await publishChanges(deps, toQStash, now);
    const refusedKeys = new Set(refused.map(itemKey));
    const sent = toQStash.filter((c) => !refusedKeys.has(itemKey(c)));
    if (refused.length > 0) console.warn(`[enqueue] QStash refused ${refused.length} of ${toQStash.length} items, they go to the database queue: ${reason}`);
    await queueItems(deps.db, sent, "webhook", SAFETY_NET_MS);
    await queueItems(deps.db, refused, "fallback");
    routed.push(...toQStash.map((c) => (refusedKeys.has(itemKey(c)) ? { ...pick(c), lane: "database" as const, fallback: true } : { ...pick(c), lane: laneFor(c.priority) })));
  }
  await queueItems(deps.db, toDatabase, "webhook");
  routed.push(...toDatabase.map((c) => ({ ...pick(c), lane: "database" as const })));
  return routed;
}

const pick = (c: Change) => ({ contentType: c.contentType, contentId: c.contentId });
