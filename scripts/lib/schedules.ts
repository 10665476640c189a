// The three QStash schedules, with fixed ids so that creating them again updates rather than adds.
import { Client } from "@upstash/qstash";
import type { Config } from "../../functions/config";
import { BASE_PATH } from "../../functions/lib/create-app";
import { QUEUES } from "../../functions/queue/lanes";

export const SCHEDULES = [
  { scheduleId: "embeddings-drain", endpoint: "drain", cron: "* * * * *" },
  { scheduleId: "embeddings-maintenance", endpoint: "maintenance", cron: "0 2 * * *" },
  { scheduleId: "embeddings-retry-failed", endpoint: "retry-failed", cron: "0 3 * * 0" },
] as const;

/** Creates or updates each schedule and the pipeline's queues; running it twice changes nothing. */
export async function syncSchedules(config: Config, schedules: readonly { scheduleId: string; endpoint: string; cron: string }[]) {
  if (!config.qstash.token) throw new Error("QSTASH_TOKEN is not set");
  if (!config.siteUrl) throw new Error("SITE_URL is not set: QStash needs the address of the functions");
  const client = new Client({ token: config.qstash.token, baseUrl: config.qstash.url, devMode: false, enableTelemetry: false });
  for (const q of QUEUES) await client.queue({ queueName: q.queueName }).upsert({ parallelism: q.parallelism });
  for (const s of schedules) {
    await client.schedules.create({
      scheduleId: s.scheduleId, cron: s.cron, destination: `${config.siteUrl}${BASE_PATH}/${s.endpoint}`,
      body: "{}", headers: { "Content-Type": "application/json" }, retries: 2,
    });
  }
  return (await client.schedules.list()).filter((s) => schedules.some((x) => x.scheduleId === s.scheduleId));
}
