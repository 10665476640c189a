// `npm run db:triggers`: writes the change-capture SQL generated from the registry as a new custom
// migration, when it differs from the newest one committed.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { captureSql } from "../schema/capture-sql";
import { defaultRegistry } from "../schema/registry";
import { CAPTURE_MIGRATION_NAME, latestCaptureMigration } from "./lib/capture-migration";

const wanted = captureSql(defaultRegistry);
const current = latestCaptureMigration();
if (current && readFileSync(current, "utf8") === wanted) {
  console.log(`Change capture is up to date (${current}).`);
} else {
  execFileSync("npx", ["drizzle-kit", "generate", "--custom", `--name=${CAPTURE_MIGRATION_NAME}`], { stdio: "inherit" });
  const created = latestCaptureMigration()!;
  writeFileSync(created, wanted);
  console.log(`Wrote ${created}. Apply it with npm run db:migrate.`);
}
