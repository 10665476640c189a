// The pipeline's QStash schedules and queues, fitted to the plan: with fixed ids, so creating them again
// updates rather than adds; a refusal of one is reported with what was done instead, never a stop.
import { Client, QstashError } from "@upstash/qstash";
import { type Config, PLAN_DAILY_LIMITS, type PlanName } from "../../functions/config";
import { type ChangesVia, DRAIN_CRONS, ENDPOINT_LIST, type EndpointPath, endpointUrl } from "../../functions/endpoints";
import { errorMessage } from "../../functions/lib/errors";
import { QUEUES } from "../../functions/qstash/lanes";
import { ALERTS_SCHEDULE, alertCron, cronOf, firesPerDay } from "../../functions/qstash/schedules";
import { cronJob } from "../qstash-emulator/emulator";
import { type PlanLimits, planLimits } from "../qstash-emulator/plans";

export type ScheduleSpec = { scheduleId: string; endpoint: EndpointPath; cron: string };

/**
 * The schedules of functions/endpoints.ts as `env` deploys them: the drain's cron fitted to CHANGES_VIA
 * (enqueue: a slow safety net; triggers, the default: every five minutes), or DRAIN_CRON.
 */
export function schedulesFrom(env: Record<string, string | undefined> = {}): ScheduleSpec[] {
  const changesVia: ChangesVia = env.CHANGES_VIA === "enqueue" ? "enqueue" : "triggers";
  return ENDPOINT_LIST.flatMap(({ schedule, routes }) => {
    if (!schedule || (schedule.requires && (!env[schedule.requires] || env[schedule.requires] === "false"))) return [];
    const given = schedule.cronVariable && env[schedule.cronVariable];
    if (given) checkCron(schedule.cronVariable!, given);
    const cron =
      schedule.scheduleId === ALERTS_SCHEDULE.scheduleId
        ? alertCron(
            env.QSTASH_DAILY_LIMIT
              ? Number(env.QSTASH_DAILY_LIMIT)
              : (PLAN_DAILY_LIMITS[env.QSTASH_PLAN as PlanName] ?? PLAN_DAILY_LIMITS.free),
            given || undefined,
          )
        : cronOf(schedule, changesVia, given);
    return [{ scheduleId: schedule.scheduleId, endpoint: routes[0]!.path, cron }];
  });
}

/** Throws, naming the variable, when its value is not a cron QStash would take. */
function checkCron(variable: string, cron: string) {
  try {
    cronJob(cron, () => {}).stop();
  } catch (error) {
    throw new Error(`${variable} is not a cron: "${cron}" (${errorMessage(error)}); e.g. "*/4 * * * *" for every 4 minutes`);
  }
}

/** Aborts the sync on what no plan explains: a refused token, or no QStash at the address. */
function fatal(error: unknown, url: string | undefined): Error | undefined {
  if (error instanceof QstashError && (error.status === 401 || error.status === 403)) {
    return new Error(`QStash refused QSTASH_TOKEN (${error.status}): copy the token from the Upstash console; nothing was created`);
  }
  if (!(error instanceof QstashError)) {
    return new Error(
      `QStash is unreachable at ${url ? `QSTASH_URL ${url}` : "https://qstash.upstash.io"} (${errorMessage(error)}); nothing was created`,
    );
  }
  return undefined;
}

/** What `npm run schedules` prints: the drain's choice, and each schedule's messages a day and a month. */
export function scheduleBill(
  env: Record<string, string | undefined>,
  schedules: { scheduleId: string; cron: string }[] = schedulesFrom(env),
): string[] {
  const changesVia: ChangesVia = env.CHANGES_VIA === "enqueue" ? "enqueue" : "triggers";
  const why =
    changesVia === "enqueue"
      ? "CHANGES_VIA=enqueue: every change rings its lane; the drain is a slow safety net for lost doorbells"
      : "CHANGES_VIA=triggers (default): only the triggers see changes; the drain every five minutes keeps the batched promise";
  const round = (n: number) => String(Math.round(n * 10) / 10);
  const lines = [env.DRAIN_CRON ? `DRAIN_CRON=${env.DRAIN_CRON} (over the fitted ${DRAIN_CRONS[changesVia]}); ${why}` : why];
  for (const s of schedules) {
    const day = firesPerDay(s.cron);
    lines.push(
      `${s.scheduleId.padEnd(26)} ${s.cron.padEnd(14)} ${round(day).padStart(6)} messages/day ${round(day * 30).padStart(7)}/month`,
    );
  }
  const total = schedules.reduce((n, s) => n + firesPerDay(s.cron), 0);
  lines.push(`${"schedules in all".padEnd(41)} ${round(total).padStart(6)} messages/day ${round(total * 30).padStart(7)}/month`);
  return lines;
}

export const SCHEDULES = schedulesFrom();

/** Share of the plan's daily messages the schedules may spend; the rest is for the lanes and retries. */
export const SCHEDULE_SHARE = 0.5;

/** Slower and slower drain crons, tried in turn when one costs more than the plan's budget allows. */
const SLOWER_CRONS = [
  "* * * * *",
  "*/2 * * * *",
  "*/3 * * * *",
  "*/4 * * * *",
  "*/5 * * * *",
  "*/10 * * * *",
  "*/15 * * * *",
  "*/30 * * * *",
  "0 * * * *",
];

/** How many times a cron fires in a day (functions/qstash/schedules.ts: one count for the ledger and for this). */
export { firesPerDay };

const perDay = (n: number) => `${Math.round(n * 10) / 10} a day`;

export type SyncReport = {
  schedules: { scheduleId: string; cron: string; destination: string }[];
  queues: { queueName: string; parallelism: number }[];
  /** What the plan refused, and what was done instead (or "nothing"). */
  adjustments: { what: string; refused: string; instead: string }[];
};

/** Fits the schedules to the plan's message budget: a cron too frequent becomes the fastest that fits. */
export function fitToPlan(schedules: ScheduleSpec[], limits: PlanLimits, adjustments: SyncReport["adjustments"]): ScheduleSpec[] {
  const fitted = [...schedules];
  fitted.forEach((s, n) => {
    const room = limits.messagesPerDay * SCHEDULE_SHARE - fitted.reduce((sum, x, m) => sum + (m === n ? 0 : firesPerDay(x.cron)), 0);
    if (firesPerDay(s.cron) <= room) return;
    const slower =
      SLOWER_CRONS.find((cron) => firesPerDay(cron) <= room && firesPerDay(cron) < firesPerDay(s.cron)) ?? SLOWER_CRONS.at(-1)!;
    adjustments.push({
      what: `schedule ${s.scheduleId} (${s.cron})`,
      refused: `${perDay(firesPerDay(s.cron))} is over the ${perDay(Math.max(0, room))} this plan's ${limits.messagesPerDay} messages a day leave for it`,
      instead: `cron ${slower} (${perDay(firesPerDay(slower))})`,
    });
    fitted[n] = { ...s, cron: slower };
  });
  return fitted;
}

/** Creates or updates each schedule and the pipeline's queues; running it twice changes nothing. */
export async function syncSchedules(config: Config, schedules: ScheduleSpec[], limits = planLimits()): Promise<SyncReport> {
  if (!config.qstash.token) throw new Error("QSTASH_TOKEN is not set");
  if (!config.siteUrl) throw new Error("SITE_URL is not set: QStash needs the address of the functions");
  const client = new Client({ token: config.qstash.token, baseUrl: config.qstash.url, devMode: false, enableTelemetry: false });
  const report: SyncReport = { schedules: [], queues: [], adjustments: [] };
  const refusal = (error: unknown) => (error instanceof QstashError ? `${error.status ?? ""} ${error.message}`.trim() : String(error));

  for (const q of QUEUES) {
    // A plan refuses a parallelism above its maximum (412): step down to what it allows, 1 at least.
    const tries = [...new Set([q.parallelism, Math.min(q.parallelism, limits.queueParallelism), 1])];
    for (const parallelism of tries) {
      try {
        await client.queue({ queueName: q.queueName }).upsert({ parallelism });
        report.queues.push({ queueName: q.queueName, parallelism });
        break;
      } catch (error) {
        const abort = fatal(error, config.qstash.url);
        if (abort) throw abort;
        const last = parallelism === tries.at(-1);
        report.adjustments.push({
          what: `queue ${q.queueName} at parallelism ${parallelism}`,
          refused: refusal(error),
          instead: last ? "nothing: the queue was not created" : `parallelism ${tries[tries.indexOf(parallelism) + 1]}`,
        });
      }
    }
  }
  for (const s of fitToPlan(schedules, limits, report.adjustments)) {
    const destination = endpointUrl(config.siteUrl, s.endpoint);
    try {
      await client.schedules.create({
        scheduleId: s.scheduleId,
        cron: s.cron,
        destination,
        body: "{}",
        headers: { "Content-Type": "application/json" },
        retries: 2,
      });
      report.schedules.push({ scheduleId: s.scheduleId, cron: s.cron, destination });
    } catch (error) {
      const abort = fatal(error, config.qstash.url);
      if (abort) throw abort;
      report.adjustments.push({ what: `schedule ${s.scheduleId} (${s.cron})`, refused: refusal(error), instead: "nothing" });
    }
  }
  return report;
}
