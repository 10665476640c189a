// The status page's trends (ARCHITECTURE.md §15): the last 24 hours and 7 days per lane, from a small
// rollup of five-minute buckets (status_rollup) filled from the rows the pipeline already writes:
// settled queue rows (kept DONE_RETENTION_DAYS) give items done and failed and their change → searchable
// latency; the exact counts give the backlog, sampled whenever the rollup runs; qstash_spend gives the
// QStash messages a day. Adding a daily series (tokens, money from the cost ledger): one function of
// the DailySeriesSource shape, listed in DAILY_SOURCES below.
import { and, gte, lt, sql } from "drizzle-orm";
import { qstashSpend, statusRollup } from "../../schema/pipeline-tables.js";
import { BACKGROUND_PRIORITY } from "../../schema/registry.js";
import type { Config } from "../config.js";
import { dailyCost } from "../cost/ledger.js";
import { type Database, rowsOf } from "../db/database.js";
import { utcDay } from "../lib/utc-day.js";
import { LANE_PRIORITIES, LANES, type Lane, laneFor } from "../qstash/lanes.js";
import { queueCounts } from "./queue-counts.js";

export const BUCKET_MS = 5 * 60_000;
export const ROLLUP_RETENTION_DAYS = 8;
const DAY_MS = 86_400_000;
/** The rollup is re-run by a reader only when the last run is older than this. */
const FRESH_MS = 60_000;

/**
 * Upper bounds (ms) of the latency histogram's bins, the last open: about 1.5× apart, so a percentile read
 * from it (interpolated in its bin) is within a bin's width of the true one. Histograms add up, so any
 * span of buckets has its exact histogram and its p50 and p95 from it.
 */
export const LATENCY_BINS = [
  250, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500, 10_000, 15_000, 20_000, 30_000, 45_000, 60_000, 90_000, 120_000, 180_000,
  300_000, 450_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000, 86_400_000,
];

/** A lane's priorities in SQL (functions/qstash/lanes.ts), so the rollup groups as laneFor does. */
const laneCase = sql.raw(`CASE ${LANES.map((lane) => `WHEN priority <= ${LANE_PRIORITIES[lane].max} THEN '${lane}'`).join(" ")} END`);

/**
 * The newest bucket and when it was rolled up (the primary key's first column: one index probe). The
 * column is named with its table: a bare `bucket` in ORDER BY is the output column of that name, an
 * expression no index serves (a sequential scan and a sort of the whole rollup, ~10 ms every read).
 */
export const LAST_ROLLUP = sql`SELECT extract(epoch FROM bucket)::float8 * 1000 AS bucket, extract(epoch FROM rolled_at)::float8 * 1000 AS rolled
  FROM status_rollup ORDER BY status_rollup.bucket DESC LIMIT 1`;

/**
 * Fills the rollup from the last bucket it holds (and the one before: a transaction that settled late
 * may have stamped an earlier time) up to `now`, or the last 7 days the first time; samples the backlog
 * into the current bucket. Skipped when run within FRESH_MS unless `force`. Rows are written in key
 * order, so concurrent runs never deadlock. How many rows it wrote.
 */
export async function rollUp(db: Database, now: number, force = false): Promise<number> {
  const [last] = await rowsOf<{ bucket: number | null; rolled: number | null }>(db.execute(LAST_ROLLUP));
  if (!force && last?.rolled != null && now - last.rolled < FRESH_MS && now >= last.rolled) return 0;
  const from = last?.bucket != null ? Math.max(last.bucket - BUCKET_MS, now - 7 * DAY_MS) : now - 7 * DAY_MS;
  const start = new Date(Math.floor(from / BUCKET_MS) * BUCKET_MS);
  const end = new Date(now);
  const bins = sql.raw(`ARRAY[${LATENCY_BINS.join(",")}]::float8[]`);
  const settled = await rowsOf<{ bucket: number; lane: Lane; status: string; bin: number | null; n: number }>(
    db.execute(sql`
    SELECT extract(epoch FROM date_bin('5 minutes', updated_at, TIMESTAMPTZ 'epoch'))::float8 * 1000 AS bucket, ${laneCase} AS lane, status,
      CASE WHEN status = 'done' AND priority < ${BACKGROUND_PRIORITY}
        THEN width_bucket(extract(epoch FROM updated_at - created_at)::float8 * 1000, ${bins}) END AS bin,
      count(*)::int AS n
    -- Ordered (and a LIMIT never reached) so the planner keeps to the settled rows' index (read-status.ts).
    FROM (SELECT status, priority, created_at, updated_at FROM embedding_queue
      WHERE status IN ('done', 'failed') AND updated_at >= ${start.toISOString()}::timestamptz AND updated_at < ${end.toISOString()}::timestamptz
      ORDER BY updated_at LIMIT 10000000) settled
    GROUP BY 1, 2, 3, 4`),
  );
  type Row = { done: number; failed: number; latency: number[]; backlog: number | null };
  const rows = new Map<string, Row>();
  const row = (bucket: number, lane: Lane) => {
    const key = `${new Date(bucket).toISOString()}|${lane}`;
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { done: 0, failed: 0, latency: new Array(LATENCY_BINS.length + 1).fill(0), backlog: null }));
    return r;
  };
  for (const s of settled) {
    const r = row(s.bucket, s.lane);
    if (s.status === "failed") r.failed += s.n;
    else {
      r.done += s.n;
      if (s.bin != null) r.latency[s.bin]! += s.n;
    }
  }
  // The backlog now (pending and processing), exact, into the current bucket of every lane.
  const current = Math.floor(now / BUCKET_MS) * BUCKET_MS;
  for (const lane of LANES) row(current, lane).backlog = 0;
  for (const c of await queueCounts(db)) {
    if (c.status === "pending" || c.status === "processing") row(current, laneFor(c.priority)).backlog! += c.count;
  }
  const values = [...rows]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, r]) => {
      const [bucket, lane] = key.split("|") as [string, Lane];
      return { bucket: new Date(bucket), lane, done: r.done, failed: r.failed, latency: r.latency, backlog: r.backlog, rolledAt: end };
    });
  await db
    .insert(statusRollup)
    .values(values)
    .onConflictDoUpdate({
      target: [statusRollup.bucket, statusRollup.lane],
      set: {
        done: sql`excluded.done`,
        failed: sql`excluded.failed`,
        latency: sql`excluded.latency`,
        backlog: sql`coalesce(excluded.backlog, ${statusRollup.backlog})`,
        rolledAt: sql`excluded.rolled_at`,
      },
    });
  return values.length;
}

/** Deletes rollup rows past ROLLUP_RETENTION_DAYS (maintenance); how many. */
export async function pruneTrends(db: Database, now: number): Promise<number> {
  const cutoff = new Date(now - ROLLUP_RETENTION_DAYS * DAY_MS);
  return (await db.delete(statusRollup).where(lt(statusRollup.bucket, cutoff)).returning({ lane: statusRollup.lane })).length;
}

/** The latency below which `share` of the histogram's items fall, interpolated in its bin (ms); null when empty. */
export function percentile(histogram: number[], share: number): number | null {
  const total = histogram.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = share * total;
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    const n = histogram[i]!;
    if (n > 0 && seen + n >= rank) {
      const low = i === 0 ? 0 : LATENCY_BINS[i - 1]!;
      const high = LATENCY_BINS[i] ?? low * 1.5;
      return Math.round(low + ((rank - seen) / n) * (high - low));
    }
    seen += n;
  }
  return LATENCY_BINS.at(-1)!;
}

/** One lane's points over a span, oldest first (null: nothing known in that step). */
export type LaneSeries = { backlog: (number | null)[]; done: number[]; failed: number[]; p50: (number | null)[]; p95: (number | null)[] };
export type Span = { name: "24h" | "7d"; stepMs: number; from: number; steps: number; lanes: Record<Lane, LaneSeries> };
/** A series by UTC day (the last 7), with the limit it is held to, if any. */
export type DailySeries = { id: string; title: string; unit: string; days: string[]; values: number[]; limit: number | null };
export type Trends = { spans: Span[]; daily: DailySeries[] };

/** A daily series from the database, one function each. */
export type DailySeriesSource = (db: Database, config: Config, days: string[]) => Promise<DailySeries>;

/** QStash messages a day (publish requests and QStash's retries, as the ledger books them) against the plan's limit. */
const qstashMessages: DailySeriesSource = async (db, config, days) => {
  const rows = await db
    .select()
    .from(qstashSpend)
    .where(and(gte(qstashSpend.day, days[0]!), sql`${qstashSpend.day} <= ${days.at(-1)!}`));
  const byDay = new Map(rows.map((r) => [r.day, r.publishRequests + r.retried]));
  return {
    id: "qstash-messages",
    title: "QStash messages a day",
    unit: "messages",
    days,
    values: days.map((d) => byDay.get(d) ?? 0),
    limit: Number.isFinite(config.qstash.dailyLimit) ? config.qstash.dailyLimit : null,
  };
};

/** A daily budget is the line a day's spend is drawn against; a monthly one has no daily line. */
const dailyCap = (config: Config, cap: number | undefined) => (config.cost.budget.period === "day" && cap !== undefined ? cap : null);

/** Embedding tokens a day (the cost ledger, functions/cost/ledger.ts), against a daily token budget. */
const embeddingTokens: DailySeriesSource = async (db, config, days) => {
  const cost = await dailyCost(db, config, days[0]!, days.at(-1)!);
  return {
    id: "embedding-tokens",
    title: "Embedding tokens a day",
    unit: "tokens",
    days,
    values: days.map((d) => cost.find((c) => c.day === d)?.tokens ?? 0),
    limit: dailyCap(config, config.cost.budget.tokens),
  };
};

/** What the embedding tokens cost a day, in US dollars at EMBEDDING_PRICES, against a daily money budget. */
const embeddingMoney: DailySeriesSource = async (db, config, days) => {
  const cost = await dailyCost(db, config, days[0]!, days.at(-1)!);
  return {
    id: "embedding-usd",
    title: "Embedding cost a day (USD)",
    unit: "USD",
    days,
    values: days.map((d) => cost.find((c) => c.day === d)?.usd ?? 0),
    limit: dailyCap(config, config.cost.budget.usd),
  };
};

export const DAILY_SOURCES: DailySeriesSource[] = [qstashMessages, embeddingTokens, embeddingMoney];

const SPANS = [
  { name: "24h", stepMs: 15 * 60_000, steps: 96 },
  { name: "7d", stepMs: 2 * 3_600_000, steps: 84 },
] as const;

/**
 * The trends as the page draws them: rolls up first (unless fresh), then sums the buckets into each
 * span's steps in SQL (only non-empty histogram bins leave the database: a few hundred rows).
 */
export async function readTrends(db: Database, config: Config, now: number): Promise<Trends> {
  await rollUp(db, now);
  const spans = await Promise.all(
    SPANS.map(async ({ name, stepMs, steps }) => {
      const end = Math.floor(now / stepMs) * stepMs + stepMs;
      const from = end - steps * stepMs;
      const step = sql`floor((extract(epoch FROM bucket)::float8 * 1000 - ${from}) / ${stepMs})::int`;
      const range = sql`bucket >= ${new Date(from).toISOString()}::timestamptz AND bucket < ${new Date(end).toISOString()}::timestamptz`;
      const totals = await rowsOf<{ i: number; lane: Lane; done: number; failed: number; backlog: number | null }>(
        db.execute(sql`SELECT ${step} AS i, lane, sum(done)::int AS done, sum(failed)::int AS failed,
          (array_agg(backlog ORDER BY bucket DESC) FILTER (WHERE backlog IS NOT NULL))[1] AS backlog
          FROM status_rollup WHERE ${range} GROUP BY 1, 2`),
      );
      const bins = await rowsOf<{ i: number; lane: Lane; bin: number; n: number }>(
        db.execute(sql`SELECT ${step} AS i, lane, h.bin::int - 1 AS bin, sum(h.n)::int AS n
          FROM status_rollup, unnest(latency) WITH ORDINALITY AS h(n, bin) WHERE ${range} AND h.n > 0 GROUP BY 1, 2, 3`),
      );
      const lanes = Object.fromEntries(
        LANES.map((lane) => {
          const histograms = Array.from({ length: steps }, () => new Array<number>(LATENCY_BINS.length + 1).fill(0));
          const series: LaneSeries = {
            backlog: new Array(steps).fill(null),
            done: new Array(steps).fill(0),
            failed: new Array(steps).fill(0),
            p50: [],
            p95: [],
          };
          for (const t of totals) {
            if (t.lane !== lane || t.i < 0 || t.i >= steps) continue;
            series.done[t.i] = t.done;
            series.failed[t.i] = t.failed;
            series.backlog[t.i] = t.backlog;
          }
          for (const b of bins) if (b.lane === lane && b.i >= 0 && b.i < steps) histograms[b.i]![b.bin]! += b.n;
          series.p50 = histograms.map((h) => percentile(h, 0.5));
          series.p95 = histograms.map((h) => percentile(h, 0.95));
          return [lane, series];
        }),
      ) as Record<Lane, LaneSeries>;
      return { name, stepMs, from, steps, lanes };
    }),
  );
  const days = Array.from({ length: 7 }, (_, i) => utcDay(now - (6 - i) * DAY_MS));
  const daily = await Promise.all(DAILY_SOURCES.map((source) => source(db, config, days)));
  return { spans, daily };
}
