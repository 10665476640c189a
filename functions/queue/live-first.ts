// Live first (ARCHITECTURE.md §5 "Short writes", §14 "Batch API"): a backfill is the pipeline's lowest
// priority, so its writes give way to the live lanes: the store of a Batch API batch's answers, and a
// drain's batch of the batched lane's rows alone. Before each write group it looks for live-lane work
// under way (`liveWorkAfoot`) and waits while there is some, a short step at a time; but
// never more than MAX_YIELD_MS before a group, so that steady live traffic slows the backfill, never
// stops it (BENCHMARKS.md §12: on 2 shared cores, its HNSW inserts beside a live change slowed it).
import { sql } from "drizzle-orm";
import { type Database, rowsOf } from "../db/database.js";
import type { Budget } from "../lib/budget.js";
import { LANE_PRIORITIES, LANES } from "../lib/lanes.js";
import { leaseRunning, readyPending } from "./claim.js";
import { type Gate, passesGate } from "./gate.js";

/** How long the store waits between two looks at the live lanes. */
export const YIELD_STEP_MS = 50;
/** The longest the store waits before one group: under steady live traffic, a group at least this often. */
export const MAX_YIELD_MS = 1000;

/** The live lanes' priorities: immediate and queued (the batched lane is the backfill's own). */
export const LIVE_MAX_PRIORITY = LANE_PRIORITIES.queued.max;
/** The same as a range to claim from: the drain claims the live lanes' rows apart from the batched lane's. */
export const LIVE_RANGE = { min: LANE_PRIORITIES.immediate.min, max: LIVE_MAX_PRIORITY };

/**
 * Whether live-lane work is under way: rows a live run holds (a lease not run out), or ready rows of a
 * live lane that a doorbell or a run holds (queue/lane-state.ts), which are about to be taken. Ready
 * rows of an idle lane are not: nothing has rung for them (a doorbell refused or spent, a retry's
 * back-off just over, no publisher), and the drain, which claims live rows first in its next batch, is
 * who takes them; waiting would delay them. Rows of a lane or type the gate keeps closed do not count:
 * nothing would take them meanwhile. Probes of the claim index: one, and one per live lane held.
 */
export async function liveWorkAfoot(db: Database, gate?: Gate): Promise<boolean> {
  const live = LANES.filter((lane) => LANE_PRIORITIES[lane].max <= LIVE_MAX_PRIORITY).map(
    (lane) => sql`(${lane}, ${LANE_PRIORITIES[lane].min}::int, ${LANE_PRIORITIES[lane].max}::int)`,
  );
  const [row] = await rowsOf<{ afoot: boolean }>(
    db.execute(sql`SELECT EXISTS (SELECT 1 FROM embedding_queue
        WHERE ${leaseRunning} AND priority <= ${LIVE_MAX_PRIORITY} AND ${passesGate(gate)})
      OR EXISTS (SELECT 1 FROM lane_state l JOIN (VALUES ${sql.join(live, sql`, `)}) AS r(lane, lo, hi) ON r.lane = l.lane
        WHERE l.held_until > clock_timestamp() AND EXISTS (SELECT 1 FROM embedding_queue
          WHERE ${readyPending} AND priority BETWEEN r.lo AND r.hi AND ${passesGate(gate)}))
      AS afoot`),
  );
  return row?.afoot ?? false;
}

/**
 * Waits while live-lane work is under way (liveWorkAfoot), at most MAX_YIELD_MS and never past the budget;
 * the ms waited. The clock is the budget's (a test's own, in tests).
 */
export async function yieldToLive(db: Database, gate: Gate, budget: Budget): Promise<number> {
  let waited = 0;
  // The probe first: with no live work, the clock is not read at all.
  while (waited < MAX_YIELD_MS && (await liveWorkAfoot(db, gate))) {
    const step = Math.min(YIELD_STEP_MS, MAX_YIELD_MS - waited, budget.left());
    if (step <= 0) break;
    await budget.clock.sleep(step);
    waited += step;
  }
  return waited;
}
