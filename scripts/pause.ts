// `npm run pause -- lane <immediate|queued|database> [reason]`, `npm run pause -- type <content type> [reason]`,
// `npm run resume -- lane|type <name>`, `npm run pause -- list`: the admin endpoint's pause and resume
// (functions/pauses.ts), on the database directly.
import * as v from "valibot";
import { loadConfig } from "../functions/config";
import { ConfigError } from "../functions/lib/errors";
import { applyPause, PauseRequestSchema } from "../functions/pauses";
import { listPauses } from "../functions/queue/pauses";
import { createRegistry } from "../schema/registry";
import { openDatabase } from "./lib/database";
import { runScript } from "./lib/run-script";

const [action, kind, name, ...reason] = process.argv.slice(2);
const usage = "Usage: npm run pause -- lane|type <name> [reason] · npm run resume -- lane|type <name> · npm run pause -- list";

await runScript(async () => {
  if (action !== "pause" && action !== "resume") throw new ConfigError(usage);
  const config = loadConfig(process.env);
  const connection = await openDatabase(config, `npm run ${action}`);
  try {
    if (kind === "list" || kind === undefined) {
      console.log(JSON.stringify(await listPauses(connection.db), null, 2));
      return;
    }
    if ((kind !== "lane" && kind !== "type") || !name) throw new ConfigError(usage);
    const parsed = v.safeParse(PauseRequestSchema, {
      [kind === "lane" ? "lane" : "contentType"]: name,
      reason: reason.length ? reason.join(" ") : undefined,
    });
    if (!parsed.success) throw new ConfigError(`${parsed.issues[0].message}. ${usage}`);
    const result = await applyPause(connection.db, createRegistry(), action, parsed.output);
    console.log(
      action === "pause"
        ? `Paused ${kind} ${name}: its rows wait in the queue, unclaimed, until \`npm run resume -- ${kind} ${name}\`.`
        : result.changed
          ? `Resumed ${kind} ${name}: the next drain (or change) takes its rows.`
          : `${kind} ${name} was not paused.`,
    );
  } finally {
    await connection.close();
  }
});
