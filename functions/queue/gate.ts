// The one gate in the claim path (ARCHITECTURE.md "Cost, budget and pauses"): the lanes and content types
// whose rows no run claims, no readyCount counts and no enqueue rings for, now. A lane is closed when an
// operator paused it or its share of the budget is spent; a type when an operator paused it. Closed rows
// keep their place in the queue: nothing is lost, and they are taken once the gate opens.
import { type SQL, sql } from "drizzle-orm";
import { BACKGROUND_PRIORITY } from "../../schema/registry.js";
import { budgetState } from "../cost/budget.js";
import type { CostSettings } from "../cost/settings.js";
import { type Database, rowsOf } from "../db/database.js";
import { LANE_PRIORITIES, LANES, type Lane } from "../lib/lanes.js";
import { listPauses } from "./pauses.js";

export type Gate = {
  closedLanes: Lane[];
  closedTypes: string[];
  /** Why each lane is closed: "paused" by an operator, or "budget". */
  why: Partial<Record<Lane, "paused" | "budget">>;
  /**
   * The backfill backlog is the Batch API's (EMBEDDING_BATCH_API on, at least EMBEDDING_BATCH_MIN_ITEMS
   * rows of it ready): live runs leave those rows to the batches function (functions/batch/).
   */
  heldForBatchApi?: boolean;
};

export const OPEN_GATE: Gate = { closedLanes: [], closedTypes: [], why: {} };

/**
 * The start of last_error on a row a Batch API batch gave back (expired, failed, unanswered:
 * functions/batch/settle.ts): such a row is the live lanes', never sent to a batch again.
 */
export const BATCH_RETURNED = "Batch API: ";

/** The rows the Batch API path may take: backfill priorities, less the rows a batch gave back. */
export const batchApiRows = sql`(priority >= ${BACKGROUND_PRIORITY} AND (last_error IS NULL OR left(last_error, ${BATCH_RETURNED.length}) <> ${BATCH_RETURNED}))`;

/** The Batch API's part of the configuration, by shape (functions/config.ts). */
export type BatchApiSettings = { batch?: { enabled: boolean; minItems: number } };

/** Whether at least `minItems` rows the Batch API may take are ready: one bounded probe, not a count of the queue. */
async function batchBacklogReached(db: Database, minItems: number): Promise<boolean> {
  const [row] = await rowsOf<{ n: number }>(
    db.execute(sql`SELECT count(*)::int AS n FROM (SELECT 1 FROM embedding_queue
      WHERE status = 'pending' AND run_after <= statement_timestamp() AND ${batchApiRows} LIMIT ${minItems}) AS ready`),
  );
  return (row?.n ?? 0) >= minItems;
}

/** The gate now: the operator's pauses, the budget's closed lanes, and whether the Batch API holds the backfill backlog. */
export async function readGate(db: Database, config: CostSettings & BatchApiSettings, now: number): Promise<Gate> {
  const [pauses, budget, held] = await Promise.all([
    listPauses(db),
    budgetState(db, config, now),
    config.batch?.enabled ? batchBacklogReached(db, config.batch.minItems) : false,
  ]);
  const why: Gate["why"] = {};
  for (const lane of budget?.closedLanes ?? []) why[lane] = "budget";
  for (const p of pauses) if (p.kind === "lane" && (LANES as string[]).includes(p.name)) why[p.name as Lane] = "paused";
  return {
    closedLanes: LANES.filter((lane) => why[lane]),
    closedTypes: pauses.filter((p) => p.kind === "type").map((p) => p.name),
    why,
    ...(held ? { heldForBatchApi: true } : {}),
  };
}

/** The SQL condition a queue row must meet to pass the gate (true when it is open). */
export function passesGate(gate: Gate | undefined): SQL {
  if (!gate || (gate.closedLanes.length === 0 && gate.closedTypes.length === 0 && !gate.heldForBatchApi)) return sql`true`;
  const lanes = gate.closedLanes.map((lane) => sql`NOT (priority BETWEEN ${LANE_PRIORITIES[lane].min} AND ${LANE_PRIORITIES[lane].max})`);
  const types = gate.closedTypes.length
    ? [
        sql`content_type NOT IN (${sql.join(
          gate.closedTypes.map((t) => sql`${t}`),
          sql`, `,
        )})`,
      ]
    : [];
  const held = gate.heldForBatchApi ? [sql`NOT ${batchApiRows}`] : [];
  return sql.join([...lanes, ...types, ...held], sql` AND `);
}

/** Whether items of this type in this lane may ring their doorbell. */
export const gateLets = (gate: Gate, lane: Lane, contentType: string) =>
  !gate.closedLanes.includes(lane) && !gate.closedTypes.includes(contentType);
