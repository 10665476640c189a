// A fresh, migrated database for each test file: a copy of the migrated PGlite, or, with
// TEST_DATABASE_URL set, a new database on that PostgreSQL server made from the migrated template,
// reached through TEST_POOLER_URL when it is set (PgBouncer in transaction mode, .ci/pgbouncer).
import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { type Connection, openPglite, postgresConnection } from "../../scripts/lib/database";
import { adminQuery, databaseUrl } from "../../scripts/lib/postgres-admin";

/** The server the suite runs on, when it is a real PostgreSQL (the `postgres` connection kind). */
export const testDatabaseUrl = process.env.TEST_DATABASE_URL || undefined;
export const onRealPostgres = Boolean(testDatabaseUrl);
/** A transaction-mode pooler in front of that server: the tests' connections go through it. */
export const testPoolerUrl = (testDatabaseUrl && process.env.TEST_POOLER_URL) || undefined;
/** Test names say which database a test needs, so a skipped one is never silent. */
export const PGLITE_ONLY = "(PGlite only)";
export const POSTGRES_ONLY = "(real PostgreSQL only: set TEST_DATABASE_URL)";

export async function freshDatabase(): Promise<Connection> {
  if (!testDatabaseUrl) return openPglite(undefined, new Blob([inject("migratedDatabase") as Uint8Array<ArrayBuffer>]));
  const name = `qe_test_${randomBytes(6).toString("hex")}`;
  await adminQuery(testDatabaseUrl, `CREATE DATABASE ${name} TEMPLATE ${inject("templateDatabase")}`);
  // Databases are made and dropped on the server itself: CREATE DATABASE runs outside a transaction.
  return postgresConnection(databaseUrl(testPoolerUrl ?? testDatabaseUrl, name), () =>
    adminQuery(testDatabaseUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  );
}
