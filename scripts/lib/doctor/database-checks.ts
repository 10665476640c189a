// The database as the deployed functions will meet it: reached with their own driver (node-postgres or
// Neon's, functions-node/database.ts; the edge's choice too), pgvector, migrations, triggers, privileges.
import { readFileSync } from "node:fs";
import { neonConfig } from "@neondatabase/serverless";
import { getTableName, sql } from "drizzle-orm";
import ws from "ws";
import { databaseHost, isNeonHost } from "../../../functions/db/connection-error";
import { rowsOf } from "../../../functions/db/database";
import { pgvectorSupport, readPgvectorVersion } from "../../../functions/db/pgvector";
import { edgeDatabase } from "../../../functions/edge";
import { errorMessage, postgresCode } from "../../../functions/lib/errors";
import { nodeDatabase } from "../../../functions-node/database";
import { defaultRegistry } from "../../../schema/registry";
import { type DoctorContext, type Finding, fail, ok, skip, warn } from "./finding";

const NEEDS_DATABASE = "the database was not reached";

/** Opens the database as the Node.js functions do and runs one query; the context keeps it for the checks after. */
export async function checkDatabase(context: DoctorContext): Promise<{ finding: Finding; close?: () => Promise<void> }> {
  const url = context.config.databaseUrl;
  if (!url) return { finding: fail("database", "DATABASE_URL is not set", "set DATABASE_URL to the database's postgres:// URL") };
  const driver = isNeonHost(url) ? "Neon's serverless driver" : "node-postgres";
  const opened = nodeDatabase(url, context.config);
  if ("refused" in opened) return { finding: fail("database", opened.refused, 'see README "Any Postgres"') };
  try {
    await opened.db.execute(sql`SELECT 1`);
  } catch (error) {
    await opened.close().catch(() => undefined);
    return {
      finding: fail(
        "database",
        errorMessage(error),
        "check DATABASE_URL's host, port, user and password, and that this machine may reach it (Supabase: the pooler's URL, README \"Supabase\")",
      ),
    };
  }
  context.db = opened.db;
  return { finding: ok("database", `reached ${databaseHost(url)} with ${driver}, as the Node.js functions will`), close: opened.close };
}

/**
 * The edge functions (search, enqueue, status) reach only Neon, or a host behind DATABASE_WS_PROXY:
 * their own driver, over a WebSocket, is tried here too.
 */
export async function checkEdgeDatabase(context: DoctorContext): Promise<Finding> {
  const url = context.config.databaseUrl;
  if (!url) return skip("edge database", "DATABASE_URL is not set");
  const fix = 'README "Any Postgres"';
  // Node 20 has no global WebSocket; the edge runtimes have theirs.
  if (typeof globalThis.WebSocket === "undefined") neonConfig.webSocketConstructor ??= ws as never;
  const opened = edgeDatabase(url, context.config);
  if ("refused" in opened) return fail("edge database", opened.refused, fix);
  try {
    await opened.db.execute(sql`SELECT 1`);
    const how = context.config.databaseWsProxy ? `through the WebSocket proxy ${context.config.databaseWsProxy}` : "over Neon's WebSocket";
    return ok("edge database", `reached ${databaseHost(url)} with Neon's serverless driver ${how}, as the edge functions will`);
  } catch (error) {
    return fail(
      "edge database",
      errorMessage(error),
      context.config.databaseWsProxy ? "check DATABASE_WS_PROXY: the proxy must be up and reach the database" : fix,
    );
  } finally {
    await opened.close().catch(() => undefined);
  }
}

/** What pgvector `found` means for the deployment. */
export function pgvectorFinding(found: { version: string; installed: boolean } | undefined): Finding {
  if (!found)
    return fail(
      "pgvector",
      "pgvector is not available on this server",
      "install pgvector (Supabase and Neon ship it), then npm run db:migrate",
    );
  const support = pgvectorSupport(found.version);
  const where = found.installed ? "installed" : "available, not installed yet";
  if (support.tooOld) return fail("pgvector", `${support.summary} (${where})`, "ALTER EXTENSION vector UPDATE; or a newer server");
  if (!support.features.iterativeScan) {
    return warn(
      "pgvector",
      `${support.summary} (${where})`,
      "ALTER EXTENSION vector UPDATE; where 0.8 is available (filtered searches may find fewer rows)",
    );
  }
  return ok("pgvector", `${support.summary} (${where})`);
}

export async function checkPgvector({ db }: DoctorContext): Promise<Finding> {
  return db ? pgvectorFinding(await readPgvectorVersion(db)) : skip("pgvector", NEEDS_DATABASE);
}

const journal = () =>
  (JSON.parse(readFileSync(new URL("../../../drizzle/meta/_journal.json", import.meta.url), "utf8")) as { entries: { tag: string }[] })
    .entries;

/** Drizzle records each applied migration in drizzle.__drizzle_migrations, one row each. */
export async function checkMigrations({ db }: DoctorContext): Promise<Finding> {
  if (!db) return skip("migrations", NEEDS_DATABASE);
  const expected = journal().length;
  // Two statements: a subquery on a table that does not exist fails even where it would not run.
  // to_regclass itself is refused on a schema the role may not use.
  const [schema] = await rowsOf<{ readable: boolean }>(
    db.execute(
      sql`SELECT coalesce((SELECT has_schema_privilege(oid, 'USAGE') FROM pg_catalog.pg_namespace WHERE nspname = 'drizzle'), true) AS readable`,
    ),
  );
  const [table] = schema?.readable
    ? await rowsOf<{ readable: boolean; exists: boolean }>(
        db.execute(sql`SELECT true AS readable, to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS exists`),
      )
    : [undefined];
  const [row] = !table?.readable
    ? [undefined]
    : table.exists
      ? await rowsOf<{ applied: number } | undefined>(
          db.execute(sql`SELECT count(*)::int AS applied FROM drizzle.__drizzle_migrations`),
        ).catch((error: unknown) => {
          if (postgresCode(error) === "42501") return [undefined]; // the functions' role need not read drizzle's own table
          throw error;
        })
      : [{ applied: 0 }];
  if (!row) {
    return warn(
      "migrations",
      "this role may not read drizzle.__drizzle_migrations",
      "run the doctor once with the owner's DATABASE_URL to check the migrations",
    );
  }
  const applied = row.applied;
  if (applied < expected)
    return fail("migrations", `${applied} of ${expected} migrations applied`, "npm run db:migrate with this DATABASE_URL");
  return ok("migrations", `all ${expected} applied`);
}

/** Every registered table has its change-capture trigger, enabled. */
export async function checkTriggers({ db }: DoctorContext): Promise<Finding> {
  if (!db) return skip("triggers", NEEDS_DATABASE);
  const rows = await rowsOf<{ table: string }>(
    db.execute(sql`SELECT DISTINCT c.relname AS table FROM pg_catalog.pg_trigger t
      JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
      WHERE p.proname = 'capture_embedding_change' AND NOT t.tgisinternal AND t.tgenabled <> 'D'`),
  );
  const present = new Set(rows.map((r) => r.table));
  const missing = defaultRegistry.map((e) => getTableName(e.table)).filter((name) => !present.has(name));
  if (missing.length) {
    return fail(
      "triggers",
      `no change capture on ${missing.join(", ")}: their changes are never queued`,
      "npm run db:migrate (after npm run db:triggers if the registry changed)",
    );
  }
  return ok("triggers", `change capture on all ${defaultRegistry.length} registered tables`);
}

/** What the functions' role must be allowed: the pipeline's tables, and reading the registered ones. */
const PIPELINE_PRIVILEGES: [string, string][] = [
  ["embedding_queue", "SELECT,INSERT,UPDATE,DELETE"],
  ["embeddings", "SELECT,INSERT,UPDATE,DELETE"],
  ["search_log", "SELECT,INSERT,DELETE"],
  ["job_runs", "SELECT,INSERT,DELETE"],
  ["signed_calls", "SELECT,INSERT,DELETE"],
];

export async function checkPrivileges({ db }: DoctorContext): Promise<Finding> {
  if (!db) return skip("privileges", NEEDS_DATABASE);
  const wanted = [...PIPELINE_PRIVILEGES, ...defaultRegistry.map((e): [string, string] => [getTableName(e.table), "SELECT"])];
  const rows = await rowsOf<{ role: string; name: string; allowed: boolean | null }>(
    db.execute(sql`SELECT current_user AS role, w.name,
        CASE WHEN to_regclass(quote_ident(w.name)) IS NULL THEN NULL ELSE has_table_privilege(quote_ident(w.name), w.privileges) END AS allowed
      FROM (VALUES ${sql.join(
        wanted.map(([name, privileges]) => sql`(${name}::text, ${privileges}::text)`),
        sql`, `,
      )}) AS w(name, privileges)`),
  );
  const role = rows[0]?.role ?? "?";
  const absent = rows.filter((r) => r.allowed === null).map((r) => r.name);
  const notYet = absent.length ? `; not created yet (see migrations): ${absent.join(", ")}` : "";
  const denied = rows.filter((r) => r.allowed === false).map((r) => `${r.name} (${wanted.find(([n]) => n === r.name)![1]})`);
  if (denied.length) {
    return fail(
      "privileges",
      `${role} may not use ${denied.join(", ")}${notYet}`,
      `as the tables' owner: GRANT SELECT, INSERT, UPDATE, DELETE ON embedding_queue, embeddings, search_log, job_runs, signed_calls TO ${role}; GRANT SELECT ON <registered tables> TO ${role}`,
    );
  }
  return ok("privileges", `${role} may use the pipeline's tables and read the registered ones${notYet}`);
}
