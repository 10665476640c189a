// Per lane, whether something is already on its way (ARCHITECTURE.md §1, "Routing (doorbells)"): an
// enqueue rings a lane only when it finds the lane idle, in the transaction that wrote its queue rows;
// a run serving the lane releases it only when, under the same row lock, it finds none of the lane's rows
// ready. The lock orders the two, so a change committed while a run finishes is never left unrung:
//   enqueue first: the release waits for its commit, then counts its rows and keeps serving;
//   release first: the enqueue waits, then finds the lane idle and rings.
import { inArray, sql } from "drizzle-orm";
import { type LaneHolder, laneStates } from "../../schema/pipeline-tables.js";
import { type Database, rowsOf } from "../db/database.js";
import { type PriorityRange, readyCount } from "./claim.js";
import type { Gate } from "./gate.js";

/**
 * Locks the lanes' rows (in name order, so two writers never wait in a cycle) and answers those idle.
 * Call in a transaction. Leases are read on clock_timestamp(): a transaction's now() is its start, which
 * may be before a release that committed while it waited for the lock.
 */
export async function lockIdleLanes(tx: Database, lanes: string[]): Promise<string[]> {
  if (lanes.length === 0) return [];
  const sorted = [...new Set(lanes)].sort();
  await tx
    .insert(laneStates)
    .values(sorted.map((lane) => ({ lane, heldUntil: sql`'-infinity'::timestamptz` })))
    .onConflictDoNothing();
  const rows = await rowsOf<{ lane: string; idle: boolean }>(
    tx.execute(sql`SELECT lane, held_until <= clock_timestamp() AS idle FROM lane_state
      WHERE lane IN (${sql.join(
        sorted.map((l) => sql`${l}`),
        sql`, `,
      )}) ORDER BY lane FOR UPDATE`),
  );
  return rows.filter((r) => r.idle).map((r) => r.lane);
}

/** Holds lanes for `leaseMs` each: a doorbell rung ("ringing") or a run under way ("serving"). */
export async function holdLanes(db: Database, holds: { lane: string; leaseMs: number }[], holder: LaneHolder): Promise<void> {
  for (const { lane, leaseMs } of holds) {
    const heldUntil = sql`clock_timestamp() + ${Math.max(0, Math.round(leaseMs))} * interval '1 millisecond'`;
    await db
      .insert(laneStates)
      .values({ lane, holder, heldUntil })
      .onConflictDoUpdate({ target: laneStates.lane, set: { holder, heldUntil, updatedAt: sql`now()` } });
  }
}

/** Leaves lanes idle: their doorbell was refused, so the next change rings again (and the drain covers). */
export async function freeLanes(db: Database, lanes: string[]): Promise<void> {
  if (lanes.length === 0) return;
  await db
    .update(laneStates)
    .set({ heldUntil: sql`'-infinity'::timestamptz`, updatedAt: sql`now()` })
    .where(inArray(laneStates.lane, lanes));
}

/**
 * A run that found its lane empty lets it go, unless rows came meanwhile (true: released, the lane is
 * idle; false: rows are ready, keep serving). The count runs after the lock, on a fresh snapshot.
 */
export async function releaseLane(db: Database, lane: string, range: PriorityRange, gate?: Gate): Promise<boolean> {
  return db.transaction(async (t) => {
    const tx = t as unknown as Database;
    await lockIdleLanes(tx, [lane]);
    if ((await readyCount(tx, range, gate)) > 0) return false;
    await freeLanes(tx, [lane]);
    return true;
  });
}

/** Each lane's state now, for the status page. */
export async function laneStatesNow(db: Database) {
  return rowsOf<{ lane: string; holder: LaneHolder; held: boolean; heldUntil: string }>(
    db.execute(
      sql`SELECT lane, holder, held_until > clock_timestamp() AS held, held_until::text AS "heldUntil" FROM lane_state ORDER BY lane`,
    ),
  );
}
