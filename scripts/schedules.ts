// `npm run schedules`: creates or updates the three QStash schedules (fixed ids, so running it again
// changes nothing) and the queued lane's queue, against QSTASH_TOKEN / QSTASH_URL and SITE_URL.
import { loadConfig } from "../functions/config";
import { SCHEDULES, syncSchedules } from "./lib/schedules";

const config = loadConfig(process.env);
const schedules = await syncSchedules(config, SCHEDULES);
for (const s of schedules) console.log(`${s.scheduleId.padEnd(26)} ${s.cron.padEnd(12)} → ${s.destination}`);
