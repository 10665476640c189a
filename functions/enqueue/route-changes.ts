// Sends each change down its lane (ARCHITECTURE.md §1, "Routing (doorbells)"): its embedding_queue row is the one
// record of the work, for every lane; QStash carries only doorbells, one per lane per coalescing window,
// that make process-webhook claim the lane's rows. A doorbell QStash refuses loses nothing: the row
// waits for the drain's schedule.
import type { Deps } from "../deps.js";
import { uniqueItems } from "../core/item.js";
import { doorbellsFor } from "../qstash/doorbells.js";
import { laneFor, type Lane } from "../qstash/lanes.js";
import { queueItems } from "../queue/index.js";
import type { Change } from "./changes.js";

export type Routed = { contentType: string; contentId: string; lane: Lane | "skipped"; fallback?: boolean };

/** Rings each lane's doorbells; answers the lanes QStash refused (the whole request, or their messages). */
async function ringDoorbells(deps: Deps, lanes: Lane[], now: number): Promise<Set<Lane>> {
  const messages = lanes.flatMap((lane) => doorbellsFor(lane, now).map((message) => ({ lane, message })));
  try {
    const sent = await deps.publisher!.publish(messages.map((m) => m.message));
    const refused = messages.filter((_, n) => "error" in sent[n]!);
    if (refused.length)
      console.warn(
        `[enqueue] QStash refused the doorbells of ${refused.map((m) => m.lane).join(", ")}; the drain will take their rows:`,
        sent.flatMap((s) => ("error" in s ? [s.error] : [])).join("; "),
      );
    return new Set(refused.map((m) => m.lane));
  } catch (error) {
    console.warn(
      `[enqueue] QStash publish failed; the drain will take the rows of ${lanes.join(", ")}:`,
      error instanceof Error ? error.message : error,
    );
    return new Set(lanes);
  }
}

export async function routeChanges(deps: Deps, changes: Change[], now = Date.now()): Promise<Routed[]> {
  const unique = uniqueItems(changes);
  const toQueue = unique.filter((c) => !c.unchanged);
  // The rows first: a doorbell delivered at once must find them.
  await queueItems(deps.db, toQueue, "webhook");
  const ringing = deps.config.strategy !== "database" && deps.publisher !== undefined;
  const lanes = [...new Set(toQueue.map((c) => laneFor(c.priority)))];
  const refused = ringing ? await ringDoorbells(deps, lanes, now) : new Set<Lane>();
  return unique.map((c) => {
    const pick = { contentType: c.contentType, contentId: c.contentId };
    if (c.unchanged) return { ...pick, lane: "skipped" };
    const lane = laneFor(c.priority);
    if (!ringing) return { ...pick, lane: "database" };
    return refused.has(lane) ? { ...pick, lane: "database", fallback: true } : { ...pick, lane };
  });
}
