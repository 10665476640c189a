// The pipeline's QStash schedules and queues, fitted to the plan: with fixed ids, so creating them again
// updates rather than adds; a refusal of one is reported with what was done instead, never a stop.
import { Client, QstashError } from "@upstash/qstash";
import type { Config } from "../../functions/config";
import { ENDPOINT_LIST, type EndpointPath, endpointUrl } from "../../functions/endpoints";
import { QUEUES } from "../../functions/qstash/lanes";
import { cronJob } from "../qstash-emulator/emulator";
import { errorMessage } from "../../functions/lib/errors";
import { planLimits, type PlanLimits } from "../qstash-emulator/plans";

export type ScheduleSpec = { scheduleId: string; endpoint: EndpointPath; cron: string };

/** The schedules of functions/endpoints.ts, each cron replaced where `env` sets its variable (DRAIN_CRON). */
export function schedulesFrom(env: Record<string, string | undefined> = {}): ScheduleSpec[] {
  return ENDPOINT_LIST.flatMap(({ schedule, routes }) => {
    if (!schedule) return [];
    const given = schedule.cronVariable && env[schedule.cronVariable];
    if (given) checkCron(schedule.cronVariable!, given);
    return [{ scheduleId: schedule.scheduleId, endpoint: routes[0]!.path, cron: given || schedule.cron }];
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

const fires = new Map<string, number>();

/** How many times a cron fires in a day: over a day from a fixed Monday, UTC; over a week if it names days. */
export function firesPerDay(cron: string): number {
  const known = fires.get(cron);
  if (known !== undefined) return known;
  const [, , dayOfMonth, month, dayOfWeek] = cron
    .replace(/^CRON_TZ=\S+\s+/, "")
    .trim()
    .split(/\s+/);
  const days = dayOfMonth === "*" && month === "*" && dayOfWeek === "*" ? 1 : 7;
  const job = cronJob(cron, () => {});
  const start = new Date("2026-01-05T00:00:00Z").getTime();
  let count = 0;
  for (let at = job.nextRun(new Date(start - 1)); at && at.getTime() < start + days * 86_400_000; at = job.nextRun(at)) count++;
  job.stop();
  fires.set(cron, count / days);
  return count / days;
}

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
