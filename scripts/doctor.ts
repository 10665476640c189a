// `npm run doctor`: given a deployment's environment, checks each thing that breaks one, one line each
// with the fix (the checks live in scripts/lib/doctor/). Exits 1 when any fails. Tests call `main`.
import { fileURLToPath } from "node:url";
import { loadConfig } from "../functions/config";
import { ConfigError, errorMessage } from "../functions/lib/errors";
import {
  checkDatabase,
  checkEdgeDatabase,
  checkMigrations,
  checkPgvector,
  checkPrivileges,
  checkTriggers,
} from "./lib/doctor/database-checks";
import { type DoctorContext, type Finding, fail, formatFinding } from "./lib/doctor/finding";
import { checkQStash, checkSigningKeys } from "./lib/doctor/qstash-checks";
import { checkSite } from "./lib/doctor/site-checks";

/** Runs every check on `env`; prints each finding through `print`; returns them. */
export async function main(
  env: Record<string, string | undefined> = process.env,
  print: (line: string) => void = console.log,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const report = (...found: Finding[]) => {
    for (const f of found) {
      findings.push(f);
      print(formatFinding(f));
    }
  };
  let context: DoctorContext;
  try {
    context = { env, config: loadConfig(env) };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    report(fail("configuration", error.message, "correct the variables it names"));
    return findings;
  }
  const database = await checkDatabase(context);
  try {
    report(database.finding, await checkEdgeDatabase(context));
    for (const [name, check] of [
      ["pgvector", checkPgvector],
      ["migrations", checkMigrations],
      ["triggers", checkTriggers],
      ["privileges", checkPrivileges],
    ] as const) {
      // A check that cannot run says why on its own line; the others still run.
      report(
        await check(context).catch((error: unknown) =>
          fail(name, errorMessage(error), "run the doctor with the tables' owner's URL, or see the cause"),
        ),
      );
    }
  } finally {
    await database.close?.();
  }
  report(...(await checkQStash(context)), checkSigningKeys(context), ...(await checkSite(context)));
  return findings;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const findings = await main();
  const failed = findings.filter((f) => f.status === "fail").length;
  console.log(failed ? `\n${failed} check(s) failed.` : "\nEvery check passed.");
  process.exitCode = failed ? 1 : 0;
}
