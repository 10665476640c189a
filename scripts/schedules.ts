// `npm run schedules`: creates or updates the QStash schedules of functions/endpoints.ts (fixed ids, so running it again
// changes nothing) and the drain's queue, against QSTASH_TOKEN / QSTASH_URL and SITE_URL, fitted to the
// plan in QSTASH_PLAN (free, payg or fixed1m; free unless set). The drain's cron follows CHANGES_VIA
// (enqueue or triggers); DRAIN_CRON overrides it. Prints the choice and each schedule's messages a day and a month.
import { loadConfig } from "../functions/config";
import { runScript, startedAsScript } from "./lib/run-script";
import { scheduleBill, schedulesFrom, syncSchedules } from "./lib/schedules";
import { isPlanName, planLimits } from "./qstash-emulator/plans";

/** Prints the plan's choice, each schedule and queue, and what the plan refused; throws for a wrong setting. */
export async function main(env: Record<string, string | undefined>, log = console.log, warn = console.warn) {
  const plan = env.QSTASH_PLAN ?? "free";
  if (!isPlanName(plan)) throw new Error(`QSTASH_PLAN must be free, payg or fixed1m, not "${plan}"`);
  const config = loadConfig(env);
  const report = await syncSchedules(config, schedulesFrom(env), planLimits(plan));
  for (const line of scheduleBill(env, report.schedules)) log(line);
  for (const s of report.schedules) log(`${s.scheduleId} → ${s.destination}`);
  for (const q of report.queues) log(`queue ${q.queueName} parallelism ${q.parallelism}`);
  for (const a of report.adjustments) warn(`${plan} plan refused ${a.what}: ${a.refused}; instead: ${a.instead}`);
  log(`${report.schedules.length} schedules and ${report.queues.length} queues created or up to date.`);
  /** 1 when the plan left something out altogether: the exit code `npm run schedules` ends with. */
  return report.adjustments.some((a) => a.instead.startsWith("nothing")) ? 1 : 0;
}

if (startedAsScript(import.meta.url)) await runScript(async () => void (process.exitCode = await main(process.env)));
