// `npm run schedules`: creates or updates the QStash schedules of functions/endpoints.ts (fixed ids, so running it again
// changes nothing) and the drain's queue, against QSTASH_TOKEN / QSTASH_URL and SITE_URL, fitted to the
// plan in QSTASH_PLAN (free, payg or fixed1m; free unless set). The drain's cron follows CHANGES_VIA
// (enqueue or triggers); DRAIN_CRON overrides it. Prints the choice and each schedule's messages a day and a month.
import { loadConfig } from "../functions/config";
import { isPlanName, planLimits } from "./qstash-emulator/plans";
import { scheduleBill, schedulesFrom, syncSchedules } from "./lib/schedules";
import { runScript } from "./lib/run-script";

await runScript(async () => {
  const plan = process.env.QSTASH_PLAN ?? "free";
  if (!isPlanName(plan)) throw new Error(`QSTASH_PLAN must be free, payg or fixed1m, not "${plan}"`);
  const config = loadConfig(process.env);
  const report = await syncSchedules(config, schedulesFrom(process.env), planLimits(plan));
  for (const line of scheduleBill(process.env, report.schedules)) console.log(line);
  for (const s of report.schedules) console.log(`${s.scheduleId} → ${s.destination}`);
  for (const q of report.queues) console.log(`queue ${q.queueName} parallelism ${q.parallelism}`);
  for (const a of report.adjustments) console.warn(`${plan} plan refused ${a.what}: ${a.refused}; instead: ${a.instead}`);
  console.log(`${report.schedules.length} schedules and ${report.queues.length} queues created or up to date.`);
  if (report.adjustments.some((a) => a.instead.startsWith("nothing"))) process.exitCode = 1;
});
