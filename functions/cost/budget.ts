// The budget (ARCHITECTURE.md "Cost, budget and pauses"): a cap on tokens and/or dollars per UTC day or
// month (EMBEDDING_BUDGET_*). Each request reserves its estimate before it is sent and settles its usage
// after, in one conditional UPDATE each, so concurrent runs together never pass the cap: at most one
// request's estimate falls short of its usage. Lower priorities get a smaller share of the cap, so the
// backfill and the batched lane stop first and the immediate lane last.
import { lt, sql } from "drizzle-orm";
import { embeddingBudget } from "../../schema/pipeline-tables.js";
import { type Database, rowsOf } from "../db/database.js";
import { TransientError } from "../lib/errors.js";
import { LANES, type Lane } from "../lib/lanes.js";
import { utcDay } from "../lib/utc-day.js";
import type { CostSettings } from "./settings.js";

/**
 * The share of the cap each lane may spend up to: the batched lane (5+, backfills at 9) stops at 80%,
 * the queued lane (3–4) at 90%, the immediate lane (1–2) only at the cap itself.
 */
export const LANE_SHARE: Record<Lane, number> = { immediate: 1, queued: 0.9, database: 0.8 };

/** A request the budget refused: its rows wait (unclaimed attempts) until the period turns or the cap rises. */
export class BudgetSpentError extends TransientError {
  override name = "BudgetSpentError";
}

export type Amount = { tokens: number; usd: number };

/** The budget's period containing `now`: "YYYY-MM-DD" (day) or "YYYY-MM" (month), UTC. */
export const periodOf = (config: CostSettings, now: number) =>
  config.cost.budget.period === "month" ? utcDay(now).slice(0, 7) : utcDay(now);

export const hasCap = (config: CostSettings) => config.cost.budget.tokens !== undefined || config.cost.budget.usd !== undefined;

/**
 * Reserves `amount` within `lane`'s share of the cap; answers the period it was booked in, or throws
 * BudgetSpentError. Without a cap, reserves nothing (undefined).
 */
export async function reserveBudget(
  db: Database,
  config: CostSettings,
  lane: Lane,
  amount: Amount,
  now: number,
): Promise<string | undefined> {
  if (!hasCap(config)) return undefined;
  const { tokens: capTokens, usd: capUsd } = config.cost.budget;
  const period = periodOf(config, now);
  const share = LANE_SHARE[lane];
  await db.insert(embeddingBudget).values({ period }).onConflictDoNothing();
  const fits = [
    capTokens === undefined ? sql`true` : sql`tokens + reserved_tokens + ${amount.tokens} <= ${Math.floor(capTokens * share)}`,
    capUsd === undefined ? sql`true` : sql`usd + reserved_usd + ${amount.usd}::float8 <= ${capUsd * share}::float8`,
  ];
  const rows = await rowsOf<{ period: string }>(
    db.execute(sql`UPDATE embedding_budget SET reserved_tokens = reserved_tokens + ${amount.tokens},
      reserved_usd = reserved_usd + ${amount.usd}::float8, updated_at = now()
      WHERE period = ${period} AND ${fits[0]} AND ${fits[1]} RETURNING period`),
  );
  if (rows.length === 0) {
    throw new BudgetSpentError(`the ${lane} lane's share of the ${config.cost.budget.period}'s embedding budget is spent`);
  }
  return period;
}

/** Replaces a reservation by what was spent (nothing, when the request failed). */
export async function settleBudget(db: Database, period: string | undefined, reserved: Amount, spent: Amount): Promise<void> {
  if (period === undefined) return;
  await db.execute(sql`UPDATE embedding_budget SET reserved_tokens = greatest(0, reserved_tokens - ${reserved.tokens}),
    reserved_usd = greatest(0, reserved_usd - ${reserved.usd}::float8), tokens = tokens + ${spent.tokens},
    usd = usd + ${spent.usd}::float8, updated_at = now() WHERE period = ${period}`);
}

export type BudgetState = {
  period: string;
  cap: { tokens: number | null; usd: number | null; period: "day" | "month" };
  spent: Amount;
  reserved: Amount;
  /** Lanes whose share of the cap is spent: the claim gate keeps their rows waiting. */
  closedLanes: Lane[];
  resetsAt: string;
};

/** The current period's account, or null without a cap. */
export async function budgetState(db: Database, config: CostSettings, now: number): Promise<BudgetState | null> {
  if (!hasCap(config)) return null;
  const period = periodOf(config, now);
  const [row] = await db.select().from(embeddingBudget).where(sql`${embeddingBudget.period} = ${period}`);
  const spent = { tokens: row?.tokens ?? 0, usd: row?.usd ?? 0 };
  const reserved = { tokens: row?.reservedTokens ?? 0, usd: row?.reservedUsd ?? 0 };
  const { tokens: capTokens, usd: capUsd, period: kind } = config.cost.budget;
  const closed = (lane: Lane) =>
    (capTokens !== undefined && spent.tokens + reserved.tokens >= Math.floor(capTokens * LANE_SHARE[lane])) ||
    (capUsd !== undefined && spent.usd + reserved.usd >= capUsd * LANE_SHARE[lane]);
  const date = new Date(now);
  const resetsAt =
    kind === "month"
      ? new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1))
      : new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1));
  return {
    period,
    cap: { tokens: capTokens ?? null, usd: capUsd ?? null, period: kind },
    spent,
    reserved,
    closedLanes: LANES.filter(closed),
    resetsAt: resetsAt.toISOString(),
  };
}

/** Deletes the accounts of periods long past (maintenance): a month's is needed for 31 days at most. */
export async function pruneBudget(db: Database): Promise<number> {
  const deleted = await db
    .delete(embeddingBudget)
    .where(lt(embeddingBudget.updatedAt, sql`now() - interval '40 days'`))
    .returning({ period: embeddingBudget.period });
  return deleted.length;
}
