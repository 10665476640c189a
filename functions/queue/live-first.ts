// Live first (ARCHITECTURE.md §5 "Short writes", §14 "Batch API"): a backfill is the pipeline's lowest
// priority, so its writes give way to the live lanes: the store of a Batch API batch's answers, and a
// drain's batch of the batched lane's rows alone. Before each write group it looks for live-lane work
// ready or in progress (one indexed probe) and waits while there is some, a short step at a time; but
// never more than MAX_YIELD_MS before a group, so that steady live traffic slows the backfill, never
// stops it (BENCHMARKS.md §12: on 2 shared cores, its HNSW inserts beside a live change slowed it).
import type { Database } from "../db/database.js";
import type { Budget } from "../lib/budget.js";
import { LANE_PRIORITIES } from "../lib/lanes.js";
import { liveWorkAfoot } from "./claim.js";
import type { Gate } from "./gate.js";

/** How long the store waits between two looks at the live lanes. */
export const YIELD_STEP_MS = 50;
/** The longest the store waits before one group: under steady live traffic, a group at least this often. */
export const MAX_YIELD_MS = 1000;

/** The live lanes' priorities: immediate and queued (the batched lane is the backfill's own). */
export const LIVE_MAX_PRIORITY = LANE_PRIORITIES.queued.max;

/**
 * Waits while live-lane work is ready or in progress, at most MAX_YIELD_MS and never past the budget;
 * the ms waited. The clock is the budget's (a test's own, in tests).
 */
export async function yieldToLive(db: Database, gate: Gate, budget: Budget): Promise<number> {
  let waited = 0;
  // The probe first: with no live work, the clock is not read at all.
  while (waited < MAX_YIELD_MS && (await liveWorkAfoot(db, LIVE_MAX_PRIORITY, gate))) {
    const step = Math.min(YIELD_STEP_MS, MAX_YIELD_MS - waited, budget.left());
    if (step <= 0) break;
    await budget.clock.sleep(step);
    waited += step;
  }
  return waited;
}
