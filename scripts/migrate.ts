// `npm run db:migrate [-- --sample-tables]`: applies drizzle/ to the configured database (embedded
// PGlite by default). `--sample-tables` first creates the education platform's tables, for a trial on
// an empty database; the embedded database always has them.
import { loadConfig } from "../functions/config";
import { requirePgvector } from "../functions/db/pgvector";
import { openDatabase } from "./lib/database";
import { runScript } from "./lib/run-script";

await runScript(async () => {
  const connection = await openDatabase(loadConfig(process.env), "npm run db:migrate");
  try {
    await connection.migrate(process.argv.includes("--sample-tables") ? { sampleTables: true } : undefined);
    console.log(`Migrations applied (${connection.kind}); ${(await requirePgvector(connection.db)).summary}.`);
  } finally {
    await connection.close();
  }
});
