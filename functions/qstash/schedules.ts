// What the pipeline's QStash schedules (the endpoint table's) cost a day (README "QStash plans").
// Edge-safe: the spend ledger reserves their messages.
import type { Config } from "../config.js";
import { type ChangesVia, ENDPOINT_LIST, ENDPOINTS, type Schedule } from "../endpoints.js";

/** The table's schedules, in its order. */
export const SCHEDULE_LIST: Schedule[] = ENDPOINT_LIST.flatMap((endpoint) => (endpoint.schedule ? [endpoint.schedule] : []));

/**
 * The alert check (functions/alerts.ts), only where ALERT_WEBHOOK_URL is set. Every minute keeps the
 * alerts within two minutes of a broken promise, but costs 1,440 messages a day: more than the Free plan's
 * 1,000, where it runs every ten minutes (144) unless ALERT_CRON says otherwise.
 */
export const ALERTS_SCHEDULE: Schedule = ENDPOINTS.alerts.schedule;
/** Below this many messages a day, the alert check runs every ten minutes unless ALERT_CRON says otherwise. */
export const ALERT_EVERY_MINUTE_FROM = 20_000;
export const alertCron = (dailyLimit: number, given?: string) =>
  given || (dailyLimit >= ALERT_EVERY_MINUTE_FROM ? ALERTS_SCHEDULE.cron : "*/10 * * * *");

/** A schedule's cron in a deployment: its variable (DRAIN_CRON) if set, else the one fitted to CHANGES_VIA. */
export const cronOf = (schedule: Schedule, changesVia: ChangesVia, variable?: string) =>
  variable || schedule.fitted?.[changesVia] || schedule.cron;

/** The schedules as this deployment runs them (the alerts' only with a webhook, the batches' only with the Batch API on). */
export function deployedSchedules(
  config: Pick<Config, "changesVia" | "drainCron"> & {
    alerts?: Pick<Config["alerts"], "webhookUrl" | "cron">;
    qstash?: { dailyLimit: number };
    batch?: Pick<Config["batch"], "enabled">;
  },
): Schedule[] {
  const wanted = (s: Schedule) =>
    s.requires === "EMBEDDING_BATCH_API" ? !!config.batch?.enabled : !s.requires || !!config.alerts?.webhookUrl;
  return SCHEDULE_LIST.filter(wanted).map((s) =>
    s.scheduleId === ALERTS_SCHEDULE.scheduleId
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
