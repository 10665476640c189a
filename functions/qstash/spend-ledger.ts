// The QStash spend ledger (README "QStash plans"): per UTC day, every message the pipeline asks QStash
// to publish (deduplicated or not: Upstash bills the request) and every delivery it receives. Upstash
// states the daily limit "is consumed by publish requests"; each retry is billed as another message.
// The schedules' fires are kept in reserve; the lanes stop publishing where the day's share ends and fall
// back to the drain, so the pipeline never passes the plan's limit.
import { sql } from "drizzle-orm";
import type { MiddlewareHandler } from "hono";
import { qstashSpend } from "../../schema/pipeline-tables.js";
import type { Config } from "../config.js";
import { type Database, rowsOf } from "../db/database.js";
import type { Clock } from "../lib/budget.js";
import { utcDay } from "../lib/utc-day.js";
import { scheduleCost } from "./schedules.js";

/**
 * What may spend: `lane` (a doorbell for lanes 1–4, rung at once) keeps room for the rest of the day's
 * fallback (one call to the drain per five minutes, `FALLBACK_WINDOW_MS`); `fallback` (that call, the
 * batched lane, a run's hand-over, the drain's chain) may spend up to the limit less the schedules.
 */
export type SpendKind = "lane" | "fallback";

/** How often, at most, the lanes' fallback rings the drain once their share is spent. */
export const FALLBACK_WINDOW_MS = 5 * 60_000;

/** Messages kept aside for retries of our own messages, beyond the schedules' fires. */
const SPARE = 10;

const DAY_MS = 86_400_000;
/** When the UTC day of `now` ends: Upstash's daily limit resets then. */
export const dayResetsAt = (now: number) => new Date((Math.floor(now / DAY_MS) + 1) * DAY_MS);

/** The most the pipeline may have spent today after publishing, for this kind of message (∞ on an unlimited plan). */
export function spendCeiling(config: Config, kind: SpendKind, now: number): number {
  const limit = config.qstash.dailyLimit;
  if (!Number.isFinite(limit)) return Number.POSITIVE_INFINITY;
  const forOwn = limit - Math.ceil(scheduleCost(config)) - SPARE;
  if (kind === "fallback") return forOwn;
  const fallbackRoom = Math.ceil((dayResetsAt(now).getTime() - now) / FALLBACK_WINDOW_MS);
  return forOwn - fallbackRoom;
}

/**
 * Books `count` publish requests for today if they fit under the ceiling of `kind`; answers whether
 * they did. Atomic: concurrent callers never pass the ceiling together.
 */
export async function bookPublish(db: Database, config: Config, count: number, kind: SpendKind, now: number): Promise<boolean> {
  if (count === 0) return true;
  const day = utcDay(now);
  const ceiling = spendCeiling(config, kind, now);
  await db.insert(qstashSpend).values({ day }).onConflictDoNothing();
  const bounded = Number.isFinite(ceiling) ? sql`AND publish_requests + retried + ${count} <= ${ceiling}` : sql``;
  const rows = await rowsOf<{ day: string }>(
    db.execute(sql`UPDATE qstash_spend SET publish_requests = publish_requests + ${count}, updated_at = now()
      WHERE day = ${day} ${bounded} RETURNING day`),
  );
  return rows.length > 0;
}

/** Books a delivery received (a QStash retry bills one more message). Never fails the delivery. */
export async function bookDelivery(db: Database, retried: boolean, now: number): Promise<void> {
  const day = utcDay(now);
  await db
    .insert(qstashSpend)
    .values({ day, deliveries: 1, retried: retried ? 1 : 0 })
    .onConflictDoUpdate({
      target: qstashSpend.day,
      set: {
        deliveries: sql`${qstashSpend.deliveries} + 1`,
        retried: sql`${qstashSpend.retried} + ${retried ? 1 : 0}`,
        updatedAt: sql`now()`,
      },
    })
    .catch((error) => console.warn("[ledger] could not book a delivery:", error instanceof Error ? error.message : error));
}

/** Books each verified QStash delivery of a route (after requireQStashSignature); Upstash-Retried says a retry. */
export function deliveryBooked(db: Database, clock?: Clock): MiddlewareHandler {
  return async (c, next) => {
    await bookDelivery(db, Number(c.req.header("upstash-retried") ?? 0) > 0, (clock ?? Date).now());
    await next();
  };
}

export type SpendToday = {
  day: string;
  publishRequests: number;
  deliveries: number;
  retried: number;
  /** The plan's daily limit (null: none). */
  dailyLimit: number | null;
  /** The schedules' messages a day, kept in reserve. */
  scheduleReserve: number;
  /** Whether lanes 1–4 have spent their share: their changes then wait for the drain. */
  lanesOnDrain: boolean;
  resetsAt: string;
};

/** Today's spend, for the status page. */
export async function spendToday(db: Database, config: Config, now: number): Promise<SpendToday> {
  const day = utcDay(now);
  const [row] = await db.select().from(qstashSpend).where(sql`${qstashSpend.day} = ${day}`);
  const spent = (row?.publishRequests ?? 0) + (row?.retried ?? 0);
  return {
    day,
    publishRequests: row?.publishRequests ?? 0,
    deliveries: row?.deliveries ?? 0,
    retried: row?.retried ?? 0,
    dailyLimit: Number.isFinite(config.qstash.dailyLimit) ? config.qstash.dailyLimit : null,
    scheduleReserve: Math.ceil(scheduleCost(config)),
    lanesOnDrain: spent + 1 > spendCeiling(config, "lane", now),
    resetsAt: dayResetsAt(now).toISOString(),
  };
}
