// `npm run db:migrate`: applies drizzle/ to the configured database (embedded PGlite by default).
import { loadConfig } from "../functions/config";
import { openDatabase } from "./lib/database";

const config = loadConfig(process.env);
const connection = await openDatabase(config);
await connection.migrate();
await connection.close();
console.log(`Migrations applied (${connection.kind}).`);
