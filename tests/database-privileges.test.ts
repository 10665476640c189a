// On Supabase the public API reaches every table in `public` as `anon` or `authenticated`, through the
// default privileges it sets. The migrations must leave those roles no way into the pipeline's tables
// and functions, while the application's own writes (as `authenticated`) are still queued.
import { randomBytes } from "node:crypto";
import { getTableColumns, getTableName } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pipelineTables } from "../schema/pipeline-tables";
import { type Connection, postgresConnection } from "../scripts/lib/database";
import { adminQuery, databaseUrl } from "../scripts/lib/postgres-admin";
import { onRealPostgres, POSTGRES_ONLY, testDatabaseUrl } from "./support/database";

// Supabase's three API roles and its default privileges, as its own development setup creates them
// (supabase/realtime, dev/postgres/00-setup.sql): everything a migration creates in `public` is granted
// to all three unless revoked.
const SUPABASE_SETUP = `
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN NOINHERIT; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated NOLOGIN NOINHERIT; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS; END IF;
END $$;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;`;

const TABLES = pipelineTables.map((table) => [getTableName(table), Object.values(getTableColumns(table))[0]!.name] as const);
let connection: Connection;
let client: pg.Client;

/** Runs `statement` as `role`; resolves to the SQLSTATE it failed with, or "ok". */
async function as(role: string, statement: string, params: unknown[] = []): Promise<string> {
  await client.query(`SET ROLE ${role}`);
  try {
    await client.query(statement, params);
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  } finally {
    await client.query("RESET ROLE");
  }
}

describe.skipIf(!onRealPostgres)(`database privileges with Supabase's roles and default privileges ${POSTGRES_ONLY}`, () => {
  beforeAll(async () => {
    const name = `qe_privileges_${randomBytes(6).toString("hex")}`;
    await adminQuery(testDatabaseUrl!, `CREATE DATABASE ${name}`);
    const url = databaseUrl(testDatabaseUrl!, name);
    connection = postgresConnection(url, () => adminQuery(testDatabaseUrl!, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    await adminQuery(url, SUPABASE_SETUP);
    await connection.migrate({ sampleTables: true });
    client = new pg.Client({ connectionString: url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await connection?.close();
  });

  it.each(["anon", "authenticated"])(
    "%s can neither read, write nor delete the pipeline's tables, nor call its functions",
    async (role) => {
      for (const [table, column] of TABLES) {
        expect(await as(role, `SELECT * FROM ${table} LIMIT 1`), `select ${table}`).toBe("42501");
        expect(await as(role, `INSERT INTO ${table} DEFAULT VALUES`), `insert ${table}`).toBe("42501");
        expect(await as(role, `UPDATE ${table} SET ${column} = ${column}`), `update ${table}`).toBe("42501");
        expect(await as(role, `DELETE FROM ${table}`), `delete ${table}`).toBe("42501");
        expect(await as(role, `TRUNCATE ${table}`), `truncate ${table}`).toBe("42501");
      }
      const sequences = (
        await client.query<{ name: string }>(
          `SELECT s.oid::regclass::text AS name FROM pg_class s
      JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.refclassid = 'pg_class'::regclass
      WHERE s.relkind = 'S' AND d.refobjid = ANY($1::regclass[])`,
          [TABLES.map(([table]) => table)],
        )
      ).rows.map((row) => row.name);
      expect(sequences.length).toBeGreaterThanOrEqual(4);
      for (const sequence of sequences) expect(await as(role, `SELECT nextval('${sequence}')`), sequence).toBe("42501");
      expect(await as(role, "SELECT queue_for_embedding('post', 'x', 1)")).toBe("42501");
      const { rows } = await client.query<{ queue: boolean; capture: boolean; children: boolean }>(
        `SELECT
      has_function_privilege($1, 'queue_for_embedding(text, text, integer, text, text, integer)', 'EXECUTE') AS queue,
      has_function_privilege($1, 'capture_embedding_change()', 'EXECUTE') AS capture,
      has_function_privilege($1, 'capture_embedding_children()', 'EXECUTE') AS children`,
        [role],
      );
      expect(rows).toEqual([{ queue: false, capture: false, children: false }]);
    },
  );

  it("keeps rows from a role granted access later: row-level security with no policy", async () => {
    await client.query("INSERT INTO search_log (query, result_count, milliseconds) VALUES ('private query', 1, 1)");
    await client.query("GRANT SELECT ON search_log TO authenticated");
    try {
      await client.query("SET ROLE authenticated");
      const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM search_log");
      expect(rows).toEqual([{ n: 0 }]);
    } finally {
      await client.query("RESET ROLE");
      await client.query("REVOKE SELECT ON search_log FROM authenticated");
    }
  });

  it("queues the changes an application role makes to a source table", async () => {
    const queued = async (id: string) =>
      (
        await client.query<{ op: string }>(
          "SELECT op FROM embedding_queue WHERE content_type = 'course' AND content_id = $1 AND status = 'pending'",
          [id],
        )
      ).rows;
    const id = (await client.query<{ id: string }>("SELECT gen_random_uuid()::text AS id")).rows[0]!.id;
    expect(await as("authenticated", "INSERT INTO course (id, title) VALUES ($1, 'Written through the API')", [id])).toBe("ok");
    expect(await queued(id)).toEqual([{ op: "upsert" }]);
    expect(await as("authenticated", "DELETE FROM course WHERE id = $1", [id])).toBe("ok");
    expect(await queued(id)).toEqual([{ op: "delete" }]);
  });

  // Before PostgreSQL 15 every role may create in `public`. An operator or function defined there with
  // an exact match for the types the capture functions use would win over pg_catalog's and run with the
  // owner's rights (SECURITY DEFINER): `integer * interval` and `to_jsonb(course)` have none there.
  it("runs no operator or function a role defined in public inside the capture functions", async () => {
    const setup = [
      "GRANT CREATE ON SCHEMA public TO authenticated",
      "SET ROLE authenticated",
      "CREATE TABLE public.hijack_log (who text)",
      "GRANT ALL ON public.hijack_log TO PUBLIC",
      `CREATE FUNCTION public.hijack_multiply(integer, interval) RETURNS interval LANGUAGE plpgsql AS
        'BEGIN INSERT INTO public.hijack_log VALUES (current_user); RETURN $1::float8 * $2; END'`,
      "CREATE OPERATOR public.* (LEFTARG = integer, RIGHTARG = interval, FUNCTION = public.hijack_multiply)",
      `CREATE FUNCTION public.to_jsonb(course) RETURNS jsonb LANGUAGE plpgsql AS
        'BEGIN INSERT INTO public.hijack_log VALUES (current_user); RETURN pg_catalog.to_jsonb($1::record); END'`,
      "RESET ROLE",
    ];
    for (const statement of setup) await client.query(statement);
    try {
      const id = (await client.query<{ id: string }>("SELECT gen_random_uuid()::text AS id")).rows[0]!.id;
      expect(await as("authenticated", "INSERT INTO course (id, title) VALUES ($1, 'Hijack attempt')", [id])).toBe("ok");
      expect(await as("authenticated", "DELETE FROM course WHERE id = $1", [id])).toBe("ok");
      const { rows } = await client.query<{ who: string }>("SELECT who FROM public.hijack_log");
      expect(rows).toEqual([]);
      const queued = await client.query("SELECT op FROM embedding_queue WHERE content_id = $1 AND status = 'pending'", [id]);
      expect(queued.rows).toEqual([{ op: "delete" }]);
    } finally {
      await client.query("DROP OPERATOR IF EXISTS public.* (integer, interval)");
      await client.query("DROP FUNCTION IF EXISTS public.hijack_multiply(integer, interval)");
      await client.query("DROP FUNCTION IF EXISTS public.to_jsonb(course)");
      await client.query("DROP TABLE IF EXISTS public.hijack_log");
      await client.query("REVOKE CREATE ON SCHEMA public FROM authenticated");
    }
  });
});
