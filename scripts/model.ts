// `npm run model -- status | shadow [model] | switch | rollback | drop-shadow`: a model switch with no
// gap (README "Switching models", scripts/lib/model-command.ts).
import { loadConfig } from "../functions/config";
import { openDatabase } from "./lib/database";
import { modelCommand } from "./lib/model-command";
import { runScript } from "./lib/run-script";

await runScript(async () => {
  const config = loadConfig(process.env);
  const connection = await openDatabase(config, "npm run model");
  try {
    console.log(await modelCommand(connection.db, config, process.argv.slice(2)));
  } finally {
    await connection.close();
  }
});
