// The cost, budget and pauses as the status page shows them (README "Cost, budget and pauses"): today's
// ledger, the budget's period, and what the claim gate holds back and why.
import { html } from "hono/html";
import { type BudgetState, budgetState } from "../cost/budget.js";
import { type SpendRow, spendByDay, totalOf } from "../cost/ledger.js";
import type { Deps } from "../deps.js";
import { utcDay } from "../lib/utc-day.js";
import { listPauses, type Pause } from "../queue/pauses.js";

export type CostStatus = {
  day: string;
  /** Today's ledger rows (per model, lane and path) and their sum. */
  today: SpendRow[];
  todayTotal: ReturnType<typeof totalOf>;
  budget: BudgetState | null;
  pauses: Pause[];
};

export async function costStatus(deps: Deps, now: number): Promise<CostStatus> {
  const day = utcDay(now);
  const [today, budget, pauses] = await Promise.all([
    spendByDay(deps.db, deps.config, day, day),
    budgetState(deps.db, deps.config, now),
    listPauses(deps.db),
  ]);
  return { day, today, todayTotal: totalOf(today), budget, pauses };
}

const dollars = (usd: number) => `$${usd < 10 ? usd.toFixed(4) : usd.toFixed(2)}`;

/** One paragraph: today's tokens and money, the budget, and what waits for a pause or the budget. */
export function costLine(cost: CostStatus) {
  const { todayTotal: t, budget } = cost;
  const cap =
    budget &&
    [budget.cap.tokens !== null ? `${budget.cap.tokens} tokens` : "", budget.cap.usd !== null ? dollars(budget.cap.usd) : ""]
      .filter(Boolean)
      .join(" / ");
  const paused = cost.pauses.map((p) => `${p.kind} ${p.name}${p.reason ? ` (${p.reason})` : ""}`);
  return html`<p id="cost">Embedding today: ${t.tokens} tokens, ${t.requests} requests, ${t.inputs} inputs, ${dollars(t.usd)}${
    budget ? html` · budget this ${budget.cap.period}: ${budget.spent.tokens} tokens, ${dollars(budget.spent.usd)} of ${cap}` : ""
  }${
    budget?.closedLanes.length
      ? html` · <b class="bad" id="budget-paused">budget reached: lanes ${budget.closedLanes.join(", ")} wait until ${budget.resetsAt.replace("T", " ").slice(0, 16)} UTC</b>`
      : ""
  }${paused.length ? html` · <b class="bad" id="paused">paused: ${paused.join(", ")}</b>` : ""}</p>`;
}
