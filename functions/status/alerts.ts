// Alerts (ARCHITECTURE.md §15, README "Alerts"): each condition is evaluated on the clock handed in,
// its state kept in alert_state, and each change of state (fired, cleared) handed to QStash once, as a
// Slack-compatible `{"text": …}` message published to ALERT_WEBHOOK_URL with a deduplication id of the
// alert and the moment it fired: QStash delivers and retries it, and a second evaluator's publish of the
// same message is dropped. The webhook's URL is a secret: never in a log, a response or an error.
import { Client } from "@upstash/qstash";
import { eq, sql } from "drizzle-orm";
import { alertState } from "../../schema/pipeline-tables.js";
import { BACKGROUND_PRIORITY } from "../../schema/registry.js";
import type { Config } from "../config.js";
import { budgetState } from "../cost/budget.js";
import { type Database, rowsOf } from "../db/database.js";
import { hnswIndexUsable } from "../db/hnsw-index.js";
import type { Deps } from "../deps.js";
import { errorMessage, redact } from "../lib/errors.js";
import { deduplicationId } from "../qstash/deduplication-id.js";
import { LANES, type Lane } from "../qstash/lanes.js";
import { bookPublish, spendToday } from "../qstash/spend-ledger.js";
import { seconds } from "./charts.js";
import { oldestByLane } from "./lane-ages.js";
import { queueCounts } from "./queue-counts.js";

/**
 * Each lane's promise (ARCHITECTURE.md §1): a change not searchable after this long breaks it. Background
 * work (backfill, re-embedding: BACKGROUND_PRIORITY) makes no promise and is not watched.
 */
export const LANE_PROMISE_MS: Record<Lane, number> = { immediate: 10_000, queued: 60_000, database: 300_000 };
/** The window in which failed items are counted for a spike. */
export const FAILURE_WINDOW_MS = 10 * 60_000;

/** A condition as evaluated now: whether it holds, since when (if known), what to say. */
export type Condition = { key: string; holding: boolean; since?: number; detail: string; title: string };

/** The conditions now, on the clock's `now` (ms). */
export async function conditions(db: Database, config: Config, now: number): Promise<Condition[]> {
  const counts = await queueCounts(db);
  const oldest = await oldestByLane(db, counts, ["pending", "processing"], BACKGROUND_PRIORITY);
  const found: Condition[] = LANES.map((lane) => {
    const at = oldest[lane];
    const promise = LANE_PROMISE_MS[lane];
    const late = at !== null && now - at > promise;
    return {
      key: `lane-late:${lane}`,
      title: `${lane} lane late`,
      holding: late,
      // It began when its oldest change passed the promise, whenever the check first saw it.
      since: late ? at! + promise : undefined,
      detail: late
        ? `the oldest change in the ${lane} lane has waited ${seconds(now - at!)} (promise: ${seconds(promise)})`
        : `every change in the ${lane} lane within ${seconds(promise)}`,
    };
  });
  const [failed] = await rowsOf<{ n: number }>(
    // Ordered, as read-status.ts's last hour, to stay on the settled rows' index.
    db.execute(sql`SELECT count(*)::int AS n FROM (SELECT 1 FROM embedding_queue
      WHERE status IN ('done', 'failed') AND status = 'failed' AND updated_at > ${new Date(now - FAILURE_WINDOW_MS).toISOString()}::timestamptz
      ORDER BY updated_at DESC LIMIT 10000000) failed`),
  );
  const failures = failed?.n ?? 0;
  found.push({
    key: "failures",
    title: "items failing",
    holding: failures >= config.alerts.failures,
    detail: `${failures} items failed in the last ${FAILURE_WINDOW_MS / 60_000} minutes (alert at ${config.alerts.failures})`,
  });
  const spend = await spendToday(db, config, now);
  if (spend.dailyLimit !== null) {
    const spent = spend.publishRequests + spend.retried;
    found.push({
      key: "qstash-day",
      title: "QStash day nearly spent",
      holding: spent >= (spend.dailyLimit * config.alerts.qstashPercent) / 100,
      detail: `${spent} of ${spend.dailyLimit} QStash messages spent today (alert at ${config.alerts.qstashPercent}%); the day resets at ${spend.resetsAt}`,
    });
  }
  // The budget nearly spent: the first lane's share closed (the batched lane's, at 80% of the cap).
  const budget = await budgetState(db, config, now);
  if (budget) {
    const of = (spent: number, cap: number | null, unit: string) => (cap === null ? [] : [`${spent} of ${cap} ${unit}`]);
    const spent = [
      ...of(budget.spent.tokens, budget.cap.tokens, "tokens"),
      ...of(Number(budget.spent.usd.toFixed(4)), budget.cap.usd, "USD"),
    ].join(" and ");
    found.push({
      key: "budget",
      title: "embedding budget nearly spent",
      holding: budget.closedLanes.length > 0,
      detail: budget.closedLanes.length
        ? `${spent} spent this ${budget.cap.period}; paused until ${budget.resetsAt}: the ${budget.closedLanes.join(", ")} lane(s)`
        : `${spent} spent this ${budget.cap.period}`,
    });
  }
  const indexed = await hnswIndexUsable(db);
  found.push({
    key: "hnsw-index",
    title: "HNSW index missing",
    holding: !indexed,
    detail: indexed
      ? "the HNSW index is in place"
      : "the HNSW index is missing or invalid: search scans every row until maintenance builds it",
  });
  return found;
}

type State = typeof alertState.$inferSelect;
export type AlertMessage = { key: string; text: string; deduplicationId: string };

/**
 * Evaluates every condition and moves its state: a condition holding for `alerts.afterMs` fires (the
 * lanes' lateness counts from the moment the promise broke), one no longer holding clears a fired
 * alert. Each move is a compare-and-set on the row as read, so of two evaluators one moves it. Then
 * hands QStash every message not yet handed over. What it sent, and the states.
 */
export async function evaluateAlerts(deps: Deps, now: number) {
  const { db, config } = deps;
  const found = await conditions(db, config, now);
  const states = new Map((await db.select().from(alertState)).map((s) => [s.key, s]));
  for (const condition of found) {
    const state = states.get(condition.key);
    const since = condition.holding ? new Date(Math.min(condition.since ?? now, state?.since?.getTime() ?? now, now)) : null;
    const fire = condition.holding && !state?.firing && now - since!.getTime() >= config.alerts.afterMs;
    const clear = !condition.holding && state?.firing === true;
    const next = {
      since,
      firing: fire ? true : clear ? false : (state?.firing ?? false),
      firedAt: fire ? new Date(now) : (state?.firedAt ?? null),
      notified: fire || clear ? false : (state?.notified ?? true),
      detail: fire || clear || (state?.firing && condition.holding) ? condition.detail : (state?.detail ?? ""),
      updatedAt: new Date(now),
    };
    if (!state) {
      await db
        .insert(alertState)
        .values({ key: condition.key, ...next })
        .onConflictDoNothing();
    } else {
      // Compare-and-set on what was read: a concurrent evaluator that moved it first wins.
      await db
        .update(alertState)
        .set(next)
        .where(sql`${alertState.key} = ${condition.key} AND ${alertState.updatedAt} = ${state.updatedAt.toISOString()}::timestamptz`);
    }
  }
  const titles = new Map(found.map((c) => [c.key, c.title]));
  const unsent = (await db.select().from(alertState).where(eq(alertState.notified, false))).filter((s) => s.firedAt);
  const sent: AlertMessage[] = [];
  for (const state of unsent) {
    const message = messageOf(state, titles.get(state.key) ?? state.key, now);
    if (await deliver(deps, message, now)) {
      await db
        .update(alertState)
        .set({ notified: true })
        .where(sql`${alertState.key} = ${state.key} AND ${alertState.firing} = ${state.firing}`);
      sent.push(message);
    }
  }
  return { sent, firing: (await db.select().from(alertState).where(eq(alertState.firing, true))).map((s) => s.key) };
}

/** The Slack-compatible text of a state's message: fired or recovered, with what holds and since when. */
export function messageOf(state: State, title: string, now: number): AlertMessage {
  const firedAt = state.firedAt!.getTime();
  const at = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
  const text = state.firing
    ? `:rotating_light: Embeddings alert: ${title}: ${state.detail} (since ${at(state.since?.getTime() ?? firedAt)})`
    : `:white_check_mark: Embeddings recovered: ${title} (alerted ${at(firedAt)}, cleared ${at(now)}): ${state.detail}`;
  return { key: state.key, text, deduplicationId: deduplicationId("alert", state.key, firedAt, state.firing ? "fired" : "cleared") };
}

/**
 * Publishes one message to the webhook through QStash (booked on the spend ledger as the pipeline's
 * own message; refused when the day's share is spent, then tried again at the next check). False when
 * it could not be handed over; the cause is logged without the webhook's URL or the token.
 */
async function deliver(deps: Deps, message: AlertMessage, now: number): Promise<boolean> {
  const { config } = deps;
  const webhook = config.alerts.webhookUrl;
  if (!webhook || !config.qstash.token) return false;
  if (!(await bookPublish(deps.db, config, 1, "fallback", now))) {
    console.warn(`[alerts] ${message.key}: QStash's day is spent for the pipeline; the message waits for the next check`);
    return false;
  }
  const client = new Client({ token: config.qstash.token, baseUrl: config.qstash.url, devMode: false, enableTelemetry: false });
  try {
    await client.publishJSON({ url: webhook, body: { text: message.text }, deduplicationId: message.deduplicationId, retries: 3 });
    return true;
  } catch (error) {
    console.warn(`[alerts] ${message.key}: QStash refused the message: ${redact(errorMessage(error), [webhook, config.qstash.token])}`);
    return false;
  }
}
