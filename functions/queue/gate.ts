// The one gate in the claim path (ARCHITECTURE.md "Cost, budget and pauses"): the lanes and content types
// whose rows no run claims, no readyCount counts and no enqueue rings for, now. A lane is closed when an
// operator paused it or its share of the budget is spent; a type when an operator paused it. Closed rows
// keep their place in the queue: nothing is lost, and they are taken once the gate opens.
import { sql, type SQL } from "drizzle-orm";
import type { CostSettings } from "../cost/settings.js";
import { budgetState } from "../cost/budget.js";
import type { Database } from "../db/database.js";
import { LANE_PRIORITIES, LANES, type Lane } from "../lib/lanes.js";
import { listPauses } from "./pauses.js";

export type Gate = {
  closedLanes: Lane[];
  closedTypes: string[];
  /** Why each lane is closed: "paused" by an operator, or "budget". */
  why: Partial<Record<Lane, "paused" | "budget">>;
};

export const OPEN_GATE: Gate = { closedLanes: [], closedTypes: [], why: {} };

/** The gate now: the operator's pauses and the budget's closed lanes. */
export async function readGate(db: Database, config: CostSettings, now: number): Promise<Gate> {
  const [pauses, budget] = await Promise.all([listPauses(db), budgetState(db, config, now)]);
  const why: Gate["why"] = {};
  for (const lane of budget?.closedLanes ?? []) why[lane] = "budget";
  for (const p of pauses) if (p.kind === "lane" && (LANES as string[]).includes(p.name)) why[p.name as Lane] = "paused";
  return {
    closedLanes: LANES.filter((lane) => why[lane]),
    closedTypes: pauses.filter((p) => p.kind === "type").map((p) => p.name),
    why,
  };
}

/** The SQL condition a queue row must meet to pass the gate (true when it is open). */
export function passesGate(gate: Gate | undefined): SQL {
  if (!gate || (gate.closedLanes.length === 0 && gate.closedTypes.length === 0)) return sql`true`;
  const lanes = gate.closedLanes.map((lane) => sql`NOT (priority BETWEEN ${LANE_PRIORITIES[lane].min} AND ${LANE_PRIORITIES[lane].max})`);
  const types = gate.closedTypes.length
    ? [
        sql`content_type NOT IN (${sql.join(
          gate.closedTypes.map((t) => sql`${t}`),
          sql`, `,
        )})`,
      ]
    : [];
  return sql.join([...lanes, ...types], sql` AND `);
}

/** Whether items of this type in this lane may ring their doorbell. */
export const gateLets = (gate: Gate, lane: Lane, contentType: string) =>
  !gate.closedLanes.includes(lane) && !gate.closedTypes.includes(contentType);
