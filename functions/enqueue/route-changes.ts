// Sends each change down its lane (ARCHITECTURE.md §1, "Routing (doorbells)"): its embedding_queue row is
// the one record of the work, for every lane; QStash carries only doorbells, and only one per lane is on
// its way at a time. The enqueue that finds its lane idle claims it, in the transaction that writes its
// rows, and rings; every other finds it held and publishes nothing. A doorbell QStash refuses loses
// nothing: the lane is let go, and the row waits for the next ring or the drain.

import type { Database } from "../db/database.js";
import type { Deps } from "../deps.js";
import { uniqueItems } from "../lib/item.js";
import { doorbellFor, FALLBACK_LANE, fallbackDrainCall, ringLeaseMs } from "../qstash/doorbells.js";
import { type Lane, laneFor } from "../qstash/lanes.js";
import type { Message } from "../qstash/publisher.js";
import { bookPublish } from "../qstash/spend-ledger.js";
import { freeLanes, gateLets, holdLanes, lockIdleLanes, OPEN_GATE, queueItemsThen, readGate } from "../queue/index.js";
import type { Change } from "./changes.js";

/** `paused`: queued, but its lane or type is closed (functions/queue/gate.ts), so nothing rang for it. */
export type Routed = { contentType: string; contentId: string; lane: Lane | "skipped"; fallback?: boolean; paused?: boolean };

type Ring = { lane: string; message: Message; leaseMs: number };

/**
 * In the queue write's transaction: the lanes this enqueue rings (those it found idle, within the day's
 * spend), held for their doorbells. Lanes 1–4 past their share ring the drain's fallback call instead.
 */
async function claimRings(tx: Database, deps: Deps, lanes: Lane[], now: number): Promise<{ rings: Ring[]; onDrain: Set<Lane> }> {
  const idle = (await lockIdleLanes(tx, [...lanes, FALLBACK_LANE])) as (Lane | typeof FALLBACK_LANE)[];
  const rings: Ring[] = [];
  const onDrain = new Set<Lane>();
  for (const lane of lanes) {
    if (!idle.includes(lane)) continue;
    const message = doorbellFor(lane, now);
    const kind = lane === "database" ? "fallback" : "lane";
    if (await bookPublish(tx, deps.config, 1, kind, now)) rings.push({ lane, message, leaseMs: ringLeaseMs(lane, message, now) });
    else onDrain.add(lane);
  }
  // One call to the drain stands for every lane past its share, once per five minutes.
  if (onDrain.size && idle.includes(FALLBACK_LANE) && (await bookPublish(tx, deps.config, 1, "fallback", now))) {
    const message = fallbackDrainCall(now);
    rings.push({ lane: FALLBACK_LANE, message, leaseMs: message.deliverAt! - now + 60_000 });
  }
  await holdLanes(tx, rings, "ringing");
  return { rings, onDrain };
}

/** Publishes the claimed doorbells; answers the lanes QStash refused (their claims are let go). */
async function ring(deps: Deps, rings: Ring[]): Promise<Set<string>> {
  if (rings.length === 0) return new Set();
  let refused: Ring[];
  try {
    const sent = await deps.publisher!.publish(rings.map((r) => r.message));
    refused = rings.filter((_, n) => "error" in sent[n]!);
    if (refused.length)
      console.warn(
        `[enqueue] QStash refused the doorbells of ${refused.map((r) => r.lane).join(", ")}; the drain will take their rows:`,
        sent.flatMap((s) => ("error" in s ? [s.error] : [])).join("; "),
      );
  } catch (error) {
    console.warn("[enqueue] QStash publish failed; the drain will take the rows:", error instanceof Error ? error.message : error);
    refused = rings;
  }
  await freeLanes(
    deps.db,
    refused.map((r) => r.lane),
  );
  return new Set(refused.map((r) => r.lane));
}

export async function routeChanges(deps: Deps, changes: Change[], now = Date.now()): Promise<Routed[]> {
  const unique = uniqueItems(changes);
  const toQueue = unique.filter((c) => !c.unchanged);
  const ringing = deps.config.strategy !== "database" && deps.publisher !== undefined;
  // A paused lane or type, or a lane past its budget share, rings nothing: its rows wait for the gate.
  const gate = ringing && toQueue.length ? await readGate(deps.db, deps.config, now) : OPEN_GATE;
  const lets = (c: { contentType: string; priority: number }) => gateLets(gate, laneFor(c.priority), c.contentType);
  const lanes = [...new Set(toQueue.filter(lets).map((c) => laneFor(c.priority)))];
  // The rows and the lanes' claims commit together: a doorbell delivered at once finds the rows, and a
  // run letting its lane go sees them (functions/queue/lane-state.ts).
  const { rings, onDrain } = await queueItemsThen(deps.db, toQueue, "webhook", (tx) =>
    ringing && lanes.length ? claimRings(tx, deps, lanes, now) : Promise.resolve({ rings: [], onDrain: new Set<Lane>() }),
  );
  const refused = await ring(deps, rings);
  return unique.map((c) => {
    const pick = { contentType: c.contentType, contentId: c.contentId };
    if (c.unchanged) return { ...pick, lane: "skipped" };
    const lane = laneFor(c.priority);
    if (!ringing) return { ...pick, lane: "database" };
    if (!lets(c)) return { ...pick, lane, paused: true };
    return refused.has(lane) || onDrain.has(lane) ? { ...pick, lane: "database", fallback: true } : { ...pick, lane };
  });
}
