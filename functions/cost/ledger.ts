// The cost ledger (ARCHITECTURE.md "Cost, budget and pauses"): per UTC day, model, lane and path, the
// embedding API's requests, inputs and tokens (its own usage.prompt_tokens). Small and bounded: a row
// per day and combination, old days pruned by maintenance (SPEND_RETENTION_DAYS).
import { and, gte, lt, sql } from "drizzle-orm";
import { embeddingSpend, qstashSpend, type SpendPath } from "../../schema/pipeline-tables.js";
import type { Database } from "../db/database.js";
import { utcDay } from "../lib/utc-day.js";
import { pricePerMillion, usdOf } from "./prices.js";
import type { CostSettings } from "./settings.js";

export type SpendKey = { model: string; lane: string; path: SpendPath };
export type Usage = { tokens: number; requests: number; inputs: number };

/** Adds one answered request's usage to its day's row (an upsert: concurrent runs add, never overwrite). */
export async function bookSpend(db: Database, key: SpendKey, usage: Usage, now: number): Promise<void> {
  await db
    .insert(embeddingSpend)
    .values({ day: utcDay(now), ...key, ...usage })
    .onConflictDoUpdate({
      target: [embeddingSpend.day, embeddingSpend.model, embeddingSpend.lane, embeddingSpend.path],
      set: {
        tokens: sql`${embeddingSpend.tokens} + ${usage.tokens}`,
        requests: sql`${embeddingSpend.requests} + ${usage.requests}`,
        inputs: sql`${embeddingSpend.inputs} + ${usage.inputs}`,
        updatedAt: sql`now()`,
      },
    });
}

export type SpendRow = SpendKey &
  Usage & {
    day: string;
    /** At the configured price (EMBEDDING_PRICES); null for a model without one. */
    usd: number | null;
  };

/**
 * The ledger's rows for the UTC days from `fromDay` through `toDay` (YYYY-MM-DD), oldest first, each with
 * its money at today's price: what the status page and its charts read.
 */
export async function spendByDay(db: Database, config: CostSettings, fromDay: string, toDay: string): Promise<SpendRow[]> {
  const rows = await db
    .select()
    .from(embeddingSpend)
    .where(and(gte(embeddingSpend.day, fromDay), lt(embeddingSpend.day, nextDay(toDay))))
    .orderBy(embeddingSpend.day, embeddingSpend.model, embeddingSpend.lane, embeddingSpend.path);
  return rows.map(({ updatedAt: _, ...row }) => ({
    ...row,
    usd:
      pricePerMillion(config.cost.prices, row.model, row.path) === null ? null : usdOf(config.cost.prices, row.model, row.tokens, row.path),
  }));
}

const nextDay = (day: string) => utcDay(Date.parse(`${day}T00:00:00Z`) + 86_400_000);

/** Sums ledger rows (money over the rows that have a price). */
export function totalOf(rows: SpendRow[]): Usage & { usd: number } {
  return rows.reduce(
    (sum, r) => ({
      tokens: sum.tokens + r.tokens,
      requests: sum.requests + r.requests,
      inputs: sum.inputs + r.inputs,
      usd: sum.usd + (r.usd ?? 0),
    }),
    { tokens: 0, requests: 0, inputs: 0, usd: 0 },
  );
}

export type DailyCost = Usage & {
  day: string;
  usd: number;
  /** QStash messages billed that day: publish requests and retried deliveries (functions/qstash/spend-ledger.ts). */
  qstashMessages: number;
};

/** Per UTC day from `fromDay` through `toDay`, every day present: embedding spend summed and QStash's messages, for charts. */
export async function dailyCost(db: Database, config: CostSettings, fromDay: string, toDay: string): Promise<DailyCost[]> {
  const rows = await spendByDay(db, config, fromDay, toDay);
  const messages = await db
    .select()
    .from(qstashSpend)
    .where(and(gte(qstashSpend.day, fromDay), lt(qstashSpend.day, nextDay(toDay))));
  const days: DailyCost[] = [];
  for (let day = fromDay; day <= toDay; day = nextDay(day)) {
    const q = messages.find((m) => m.day === day);
    days.push({ day, ...totalOf(rows.filter((r) => r.day === day)), qstashMessages: (q?.publishRequests ?? 0) + (q?.retried ?? 0) });
  }
  return days;
}

/** Deletes ledger days older than the retention (maintenance); how many rows. */
export async function pruneSpend(db: Database, retentionDays: number, now: number): Promise<number> {
  const cutoff = utcDay(now - retentionDays * 86_400_000);
  const deleted = await db.delete(embeddingSpend).where(lt(embeddingSpend.day, cutoff)).returning({ day: embeddingSpend.day });
  return deleted.length;
}
