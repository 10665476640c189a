// The pipeline's QStash schedules and what they cost a day (README "QStash plans"). Edge-safe: the spend
// ledger reserves their messages, and functions/endpoints.ts names them per endpoint.
import type { Config } from "../config.js";

/**
 * A QStash schedule: a fixed id (creating it again updates it), a cron, the variable that may replace the
 * cron, and (the drain) the cron fitted to each CHANGES_VIA.
 */
export type Schedule = {
  scheduleId: string;
  cron: string;
  cronVariable?: string;
  fitted?: Readonly<Record<ChangesVia, string>>;
  /** A variable that must be set for the schedule to exist (the alerts' webhook). */
  requires?: string;
};

/**
 * The drain's cron, fitted to how changes arrive (CHANGES_VIA): where `enqueue` is called, every change
 * rings its lane and the drain is a slow safety net for lost doorbells (48 a day); where only the
 * triggers see changes, the drain is the only route, and every five minutes keeps the batched promise
 * (288 a day).
 */
export const DRAIN_CRONS = { enqueue: "*/30 * * * *", triggers: "*/5 * * * *" } as const;

export type ChangesVia = keyof typeof DRAIN_CRONS;

export const MAINTENANCE_SCHEDULE: Schedule = { scheduleId: "embeddings-maintenance", cron: "0 2 * * *" };
export const RETRY_FAILED_SCHEDULE: Schedule = { scheduleId: "embeddings-retry-failed", cron: "0 3 * * 0" };
export const DRAIN_SCHEDULE: Schedule = {
  scheduleId: "embeddings-drain",
  cron: DRAIN_CRONS.triggers,
  cronVariable: "DRAIN_CRON",
  fitted: DRAIN_CRONS,
};

/**
 * The alert check (functions/alerts.ts), only where ALERT_WEBHOOK_URL is set. Every minute keeps the
 * alerts within two minutes of a broken promise, but costs 1,440 messages a day: more than the Free plan's
 * 1,000, where it runs every ten minutes (144) unless ALERT_CRON says otherwise (alertCron).
 */
export const ALERTS_SCHEDULE: Schedule = {
  scheduleId: "embeddings-alerts",
  cron: "* * * * *",
  cronVariable: "ALERT_CRON",
  requires: "ALERT_WEBHOOK_URL",
};
/** Below this many messages a day, the alert check runs every ten minutes unless ALERT_CRON says otherwise. */
export const ALERT_EVERY_MINUTE_FROM = 20_000;
export const alertCron = (dailyLimit: number, given?: string) =>
  given || (dailyLimit >= ALERT_EVERY_MINUTE_FROM ? ALERTS_SCHEDULE.cron : "*/10 * * * *");

export const SCHEDULE_LIST = [DRAIN_SCHEDULE, MAINTENANCE_SCHEDULE, RETRY_FAILED_SCHEDULE, ALERTS_SCHEDULE];

/** A schedule's cron in a deployment: its variable (DRAIN_CRON) if set, else the one fitted to CHANGES_VIA. */
export const cronOf = (schedule: Schedule, changesVia: ChangesVia, variable?: string) =>
  variable || schedule.fitted?.[changesVia] || schedule.cron;

/** The schedules as this deployment runs them (the alerts' only with a webhook). */
export function deployedSchedules(
  config: Pick<Config, "changesVia" | "drainCron"> & {
    alerts?: Pick<Config["alerts"], "webhookUrl" | "cron">;
    qstash?: { dailyLimit: number };
  },
): Schedule[] {
  return SCHEDULE_LIST.filter((s) => !s.requires || config.alerts?.webhookUrl).map((s) =>
    s === ALERTS_SCHEDULE
      ? { ...s, cron: alertCron(config.qstash?.dailyLimit ?? 0, config.alerts?.cron) }
      : { ...s, cron: cronOf(s, config.changesVia, s.cronVariable ? config.drainCron : undefined) },
  );
}

const fires = new Map<string, number>();

/** Whether `value` matches one cron field: `*`, `*\/n`, `a`, `a-b`, `a-b/n`, and lists of them. */
function matches(field: string, value: number, min: number): boolean {
  return field.split(",").some((part) => {
    const [range, stepText] = part.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    const [from, to] = range === "*" ? [min, Number.MAX_SAFE_INTEGER] : range!.split("-").map(Number);
    const end = to ?? (stepText === undefined ? from! : Number.MAX_SAFE_INTEGER);
    return value >= from! && value <= end && (value - from!) % step === 0;
  });
}

/**
 * How many times a 5-field cron fires in a day, averaged over a week (a weekly schedule costs 1/7).
 * QStash's crons have a minute's resolution; a CRON_TZ= prefix moves the fires, not their count.
 */
export function firesPerDay(cron: string): number {
  const known = fires.get(cron);
  if (known !== undefined) return known;
  const fields = cron
    .replace(/^CRON_TZ=\S+\s+/, "")
    .trim()
    .split(/\s+/);
  if (fields.length !== 5) throw new Error(`cron "${cron}" must have 5 fields (minute hour day month weekday)`);
  const [minute, hour, dayOfMonth, month, dayOfWeek] = fields as [string, string, string, string, string];
  // A week from Monday 2026-01-05 (UTC), minute by minute: 10,080 checks, once per cron.
  const start = Date.UTC(2026, 0, 5);
  let count = 0;
  for (let m = 0; m < 7 * 1440; m++) {
    const at = new Date(start + m * 60_000);
    if (
      matches(minute, at.getUTCMinutes(), 0) &&
      matches(hour, at.getUTCHours(), 0) &&
      matches(dayOfMonth, at.getUTCDate(), 1) &&
      matches(month, at.getUTCMonth() + 1, 1) &&
      matches(dayOfWeek.replace(/\b7\b/g, "0"), at.getUTCDay(), 0)
    )
      count++;
  }
  fires.set(cron, count / 7);
  return count / 7;
}

/** Messages a day the schedules cost (one delivery each fire). */
export const scheduleCost = (config: Parameters<typeof deployedSchedules>[0]) =>
  deployedSchedules(config).reduce((sum, s) => sum + firesPerDay(s.cron), 0);
