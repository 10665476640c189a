// QStash's crons: five fields (a minute's resolution), in UTC or the zone a CRON_TZ= prefix names.
import { Cron } from "croner";

/**
 * A paused croner job for a QStash cron, used to compute its runs (the emulator's clock fires them).
 * QStash parses crons with Go's robfig/cron standard parser: its answers carry that parser's messages
 * after "Invalid cron expression " ({"error":"Invalid cron expression empty spec string"}, reported in
 * upstash/qstash-js #50), so a cron with seconds is refused as robfig refuses it: "expected exactly 5
 * fields, found 6: [* * * * * *]". "By default, we evaluate cron expressions in UTC"; a
 * "CRON_TZ=America/New_York 0 4 * * *" prefix names another zone (docs: qstash/features/schedules,
 * "Timezones"). Throws the parser's message on a bad cron or zone.
 */
export function cronJob(cron: string, run: () => void = () => {}): Cron {
  const zoned = cron.trim().match(/^CRON_TZ=(\S+)\s+(.*)$/);
  const spec = (zoned ? zoned[2]! : cron).trim();
  if (!spec) throw new Error("empty spec string");
  const fields = spec.split(/\s+/);
  if (!spec.startsWith("@") && fields.length !== 5) {
    throw new Error(`expected exactly 5 fields, found ${fields.length}: [${fields.join(" ")}]`);
  }
  const zone = zoned ? zoned[1]! : "UTC";
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
  } catch {
    throw new Error(`provided bad location ${zone}: unknown time zone ${zone}`);
  }
  const job = new Cron(spec, { timezone: zone, paused: true }, run);
  job.nextRun();
  return job;
}
