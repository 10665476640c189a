// `npm run db:migrate [-- --sample-tables]`: applies drizzle/ to the configured database (embedded
// PGlite by default). `--sample-tables` first creates the education platform's tables, for a trial on
// an empty database; the embedded database always has them.
import { loadConfig } from "../functions/config";
import { openDatabase } from "./lib/database";

const config = loadConfig(process.env);
const connection = await openDatabase(config);
try {
  await connection.migrate(process.argv.includes("--sample-tables") ? { sampleTables: true } : undefined);
  console.log(`Migrations applied (${connection.kind}).`);
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
} finally {
  await connection.close();
}
