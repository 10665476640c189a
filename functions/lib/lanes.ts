// Priority decides the lane (ARCHITECTURE.md §1, "Routing (doorbells)"): the queue claims by it, the
// budget shares by it, QStash rings by it (functions/qstash/lanes.ts), so it sits below them all.
import type { LANE_NAMES } from "../../schema/messages.js";

export type Lane = (typeof LANE_NAMES)[number];

/** The priorities each lane takes: a doorbell claims only its lane's queue rows. */
export const LANE_PRIORITIES: Record<Lane, { min: number; max: number }> = {
  immediate: { min: -2_147_483_648, max: 2 },
  queued: { min: 3, max: 4 },
  database: { min: 5, max: 2_147_483_647 },
};

export const LANES = Object.keys(LANE_PRIORITIES) as Lane[];

export function laneFor(priority: number): Lane {
  return LANES.find((lane) => priority <= LANE_PRIORITIES[lane].max)!;
}
