// `npm run trigger -- drain|maintenance|retry-failed`: runs a scheduled function now, through QStash
// as its schedule would (signed, retried): the local emulator, or the real QStash of a deployment.
// Reads QSTASH_TOKEN, QSTASH_URL and SITE_URL, which `npm start` prints.
import { loadConfig } from "../functions/config";
import { type EndpointPath, endpointUrl } from "../functions/endpoints";
import { ConfigError } from "../functions/lib/errors";
import { qstashPublisher } from "../functions/qstash/publisher";
import { runScript, startedAsScript } from "./lib/run-script";
import { SCHEDULES } from "./lib/schedules";

/** `args` as after `npm run trigger --`; prints where to see the run, throws a ConfigError for what is missing. */
export async function main(args: string[], env: Record<string, string | undefined>, log = console.log) {
  const names: string[] = SCHEDULES.map((s) => s.endpoint);
  const endpoint = args[0] as EndpointPath | undefined;
  if (!endpoint || !names.includes(endpoint)) throw new ConfigError(`Usage: npm run trigger -- ${names.join("|")}`);
  const config = loadConfig(env);
  const publisher = qstashPublisher(config);
  if (!publisher || !config.siteUrl) {
    throw new ConfigError("Set QSTASH_TOKEN, QSTASH_URL (for the local emulator) and SITE_URL: `npm start` prints them.");
  }
  const [sent] = await publisher.publish([{ endpoint, body: {} }]);
  if (sent && "error" in sent) throw new Error(`QStash refused the call: ${sent.error}`);
  log(`Asked QStash to call ${endpointUrl(config.siteUrl, endpoint)}; its job run appears at ${endpointUrl("", "processor")}.`);
}

if (startedAsScript(import.meta.url)) await runScript(() => main(process.argv.slice(2), process.env));
