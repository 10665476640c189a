// Applies drizzle/ (the pipeline's tables and the change-capture triggers) to a database, and before
// it, where asked, drizzle/sample-tables/ (the education platform's tables, for the embedded database
// and for trials). A real application's tables are its own: the triggers attach to them as they are.

import { fileURLToPath } from "node:url";
import { getTableName, sql } from "drizzle-orm";
import type { Database } from "../../functions/db/database";
import { rowsOf } from "../../functions/db/database";
import { requirePgvector } from "../../functions/db/pgvector";
import { defaultRegistry } from "../../schema/registry";

export const migrationsFolder = fileURLToPath(new URL("../../drizzle", import.meta.url));
export const sampleTablesFolder = fileURLToPath(new URL("../../drizzle/sample-tables", import.meta.url));

type Migrator = (db: never, config: { migrationsFolder: string; migrationsTable?: string }) => Promise<void>;
export type MigrateOptions = { sampleTables?: boolean };

export async function applyMigrations(db: Database, migrator: Migrator, options: MigrateOptions) {
  // Before anything is created: a pgvector too old for the HNSW index stops here, saying what to do.
  await requirePgvector(db);
  if (options.sampleTables) {
    await migrator(db as never, { migrationsFolder: sampleTablesFolder, migrationsTable: "__drizzle_sample_tables" });
  }
  const missing = await missingTables(
    db,
    defaultRegistry.map((entry) => getTableName(entry.table)),
  );
  if (missing.length) {
    throw new Error(
      `The registered tables ${missing.join(", ")} do not exist in this database, and the change-capture triggers need them. ` +
        "Point the registry (schema/registry.ts) at your tables and run `npm run db:triggers`, " +
        "or, to try the pipeline on an empty database, run `npm run db:migrate -- --sample-tables` " +
        "(the sample tables come from `npm run db:generate`: run it after adding a table to schema/source-tables.ts).",
    );
  }
  await migrator(db as never, { migrationsFolder });
}

async function missingTables(db: Database, names: string[]): Promise<string[]> {
  const found = await rowsOf<{ name: string; present: boolean }>(
    db.execute(sql`SELECT name, to_regclass(quote_ident(name)) IS NOT NULL AS present
      FROM (VALUES ${sql.join(
        names.map((name) => sql`(${name}::text)`),
        sql`, `,
      )}) AS t(name)`),
  );
  return found.filter((row) => !row.present).map((row) => row.name);
}
