// `npm run doctor` against a deployment that works (the local stack: its functions, the QStash emulator
// and its schedules, the database over the wire, edge functions through a WebSocket proxy), then with
// each fault injected once: every fault is named on its own line, with its fix.
import { getTableName, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rowsOf } from "../functions/db/database";
import { defaultRegistry } from "../schema/registry";
import { main } from "../scripts/doctor";
import { pgvectorFinding } from "../scripts/lib/doctor/database-checks";
import type { Finding } from "../scripts/lib/doctor/finding";
import { servePglite } from "../scripts/lib/pg-server";
import { adminQuery, databaseUrl } from "../scripts/lib/postgres-admin";
import { schedulesFrom, syncSchedules } from "../scripts/lib/schedules";
import { type NeonRelay, startNeonRelay } from "../testing/neon-relay";
import { freshDatabase, onRealPostgres, POSTGRES_ONLY } from "./support/database";
import { startTestStack, type TestStack } from "./support/stack";

let stack: TestStack;
let relay: NeonRelay;
let pgUrl: string;
let stopServed: (() => Promise<unknown>) | undefined;
let healthy: Record<string, string>;

beforeAll(async () => {
  const connection = await freshDatabase();
  stack = await startTestStack({ connection, schedules: true });
  if (connection.pglite) {
    const served = await servePglite(connection.pglite, 0);
    pgUrl = served.url;
    stopServed = () => served.stop();
  } else pgUrl = connection.url!;
  relay = await startNeonRelay(connection);
  const c = stack.config;
  healthy = {
    DATABASE_URL: pgUrl,
    DATABASE_WS_PROXY: relay.wsProxy,
    QSTASH_TOKEN: c.qstash.token!,
    QSTASH_URL: c.qstash.url!,
    QSTASH_CURRENT_SIGNING_KEY: c.qstash.currentSigningKey!,
    QSTASH_NEXT_SIGNING_KEY: c.qstash.nextSigningKey!,
    SITE_URL: c.siteUrl!,
    EMBEDDER: "local",
  };
}, 60_000);
afterAll(async () => {
  await relay?.close();
  await stopServed?.();
  await stack?.close();
});

const lines: string[] = [];
const doctor = async (changes: Record<string, string | undefined> = {}) => {
  lines.length = 0;
  const findings = await main({ ...healthy, ...changes }, (line) => lines.push(line));
  return Object.fromEntries(findings.map((f) => [f.check, f])) as Record<string, Finding>;
};
const failing = (findings: Record<string, Finding>) =>
  Object.values(findings)
    .filter((f) => f.status === "fail")
    .map((f) => f.check);

describe("npm run doctor", () => {
  it("finds nothing wrong with a working deployment, one line a check", async () => {
    const findings = await doctor();
    expect(Object.values(findings).filter((f) => f.status !== "ok")).toEqual([]);
    expect(Object.keys(findings)).toEqual([
      "database",
      "edge database",
      "pgvector",
      "migrations",
      "triggers",
      "privileges",
      "qstash token",
      "qstash schedules",
      "signing keys",
      "site",
      "signature",
    ]);
    expect(lines).toHaveLength(11);
    expect(findings.database!.detail).toMatch(/reached 127\.0\.0\.1:\d+ with node-postgres/);
  });

  it("names a database it cannot reach, and skips what needs it", async () => {
    const findings = await doctor({ DATABASE_URL: "postgres://app:hunter2-secret@127.0.0.1:1/app" });
    expect(findings.database).toMatchObject({ status: "fail", detail: expect.stringMatching(/127\.0\.0\.1:1 .*ECONNREFUSED/) });
    expect(["pgvector", "migrations", "triggers", "privileges"].map((c) => findings[c]!.status)).toEqual(["skip", "skip", "skip", "skip"]);
    expect(lines.join("\n")).not.toContain("hunter2");
  });

  it("says the edge functions cannot reach a database that is not Neon without a WebSocket proxy", async () => {
    const findings = await doctor({ DATABASE_WS_PROXY: undefined });
    expect(failing(findings)).toEqual(["edge database"]);
    expect(findings["edge database"]).toMatchObject({
      detail: expect.stringMatching(/DATABASE_WS_PROXY.*Node\.js/),
      fix: expect.stringMatching(/Any Postgres/),
    });
  });

  it("judges pgvector's version: too old fails, before 0.8 warns", () => {
    expect(pgvectorFinding({ version: "0.4.1", installed: true })).toMatchObject({
      status: "fail",
      fix: expect.stringMatching(/ALTER EXTENSION vector UPDATE/),
    });
    expect(pgvectorFinding({ version: "0.7.4", installed: true })).toMatchObject({
      status: "warn",
      detail: expect.stringMatching(/iterative/),
    });
    expect(pgvectorFinding(undefined)).toMatchObject({ status: "fail" });
  });

  it("finds a migration not applied", async () => {
    const db = stack.connection.db;
    const [last] = await rowsOf<Record<string, unknown>>(
      db.execute(sql`DELETE FROM drizzle.__drizzle_migrations WHERE id = (SELECT max(id) FROM drizzle.__drizzle_migrations) RETURNING *`),
    );
    try {
      const findings = await doctor();
      expect(failing(findings)).toEqual(["migrations"]);
      expect(findings.migrations!.fix).toMatch(/npm run db:migrate/);
    } finally {
      await db.execute(
        sql`INSERT INTO drizzle.__drizzle_migrations (id, hash, created_at) VALUES (${last!.id}, ${last!.hash}, ${last!.created_at})`,
      );
    }
  });

  it("finds a registered table without its change capture", async () => {
    const table = sql.identifier(getTableName(defaultRegistry[0]!.table));
    await stack.connection.db.execute(sql`ALTER TABLE ${table} DISABLE TRIGGER USER`);
    try {
      const findings = await doctor();
      expect(failing(findings)).toEqual(["triggers"]);
      expect(findings.triggers!.detail).toContain(getTableName(defaultRegistry[0]!.table));
    } finally {
      await stack.connection.db.execute(sql`ALTER TABLE ${table} ENABLE TRIGGER USER`);
    }
  });

  it.skipIf(!onRealPostgres)(`finds a role without the privileges the functions need ${POSTGRES_ONLY}`, async () => {
    const role = `doctor_${Math.random().toString(36).slice(2, 8)}`;
    await adminQuery(pgUrl, `CREATE ROLE ${role} LOGIN PASSWORD 'doctor-pass'`);
    try {
      const url = new URL(databaseUrl(pgUrl, new URL(pgUrl).pathname.slice(1)));
      Object.assign(url, { username: role, password: "doctor-pass" });
      const findings = await doctor({ DATABASE_URL: url.toString() });
      expect(failing(findings)).toEqual(["privileges"]);
      expect(findings.migrations).toMatchObject({ status: "warn", detail: expect.stringMatching(/may not read/) });
      expect(findings.privileges!.detail).toMatch(new RegExp(`^${role} may not use embedding_queue`));
      expect(findings.privileges!.fix).toMatch(/GRANT SELECT, INSERT, UPDATE, DELETE ON embedding_queue/);
    } finally {
      await adminQuery(pgUrl, `DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
  });

  it("finds a QStash token refused", async () => {
    const findings = await doctor({ QSTASH_TOKEN: "not-the-token" });
    expect(failing(findings)).toEqual(["qstash token"]);
    expect(findings["qstash token"]!.detail).toMatch(/refused the token \(401\)/);
  });

  it("finds a schedule missing", async () => {
    await stack.qstash.schedules.delete(schedulesFrom()[0]!.scheduleId);
    try {
      const findings = await doctor();
      expect(failing(findings)).toEqual(["qstash schedules"]);
      expect(findings["qstash schedules"]!).toMatchObject({
        detail: expect.stringContaining(schedulesFrom()[0]!.scheduleId),
        fix: expect.stringMatching(/npm run schedules/),
      });
    } finally {
      await syncSchedules(stack.config, schedulesFrom());
    }
  });

  it("finds a signing key missing, malformed, or not the deployment's", async () => {
    expect(failing(await doctor({ QSTASH_NEXT_SIGNING_KEY: undefined }))).toEqual(["signing keys"]);
    // A malformed key also signs what the deployment refuses.
    expect(failing(await doctor({ QSTASH_CURRENT_SIGNING_KEY: "pasted with a space" }))).toEqual(["signing keys", "signature"]);
    const other = await doctor({ QSTASH_CURRENT_SIGNING_KEY: "sig_NotTheDeploymentsKey123" });
    expect(failing(other)).toEqual(["signature"]);
    expect(other.signature!.fix).toMatch(/same signing keys/);
  });

  it("finds SITE_URL not answering, or answering without the functions", async () => {
    const down = await doctor({ SITE_URL: "http://127.0.0.1:1" });
    expect(failing(down)).toEqual(["qstash schedules", "site"]);
    expect(down.site!.detail).toMatch(/did not answer/);
    const elsewhere = await doctor({ SITE_URL: stack.config.qstash.url! });
    expect(elsewhere.site).toMatchObject({ status: "fail", detail: expect.stringMatching(/answered 401, but not as the functions do/) });
  });
});
