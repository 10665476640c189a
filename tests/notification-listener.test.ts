// npm start with DATABASE_URL hears the capture triggers' notifications on one connection of its own.
// A dropped connection must come back as one (not one per error), and keep trying while the server
// refuses it, so that forwarding never stops for good.
import { randomBytes } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { communityPost } from "../schema";
import { listenOn } from "../scripts/lib/notification-listener";
import { adminQuery, databaseUrl } from "../scripts/lib/postgres-admin";
import { onRealPostgres, POSTGRES_ONLY, testDatabaseUrl } from "./support/database";
import { startTestStack } from "./support/stack";

const CHANNEL = "listener_test";
let name: string;
let url: string;
let admin: pg.Client;

/** The backends listening on our database, by pid. */
const listenerPids = async () =>
  (
    await admin.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()",
      [name],
    )
  ).rows.map((r) => r.pid);
const listeners = async () => (await listenerPids()).length;
/** Terminates the listening backends; resolves to their pids (a terminated one is listed a moment longer). */
const dropListeners = async () =>
  (
    await admin.query<{ pid: number }>(
      "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%'",
      [name],
    )
  ).rows.map((r) => r.pid);
/** One listener, and not one of those dropped: a new connection has run its LISTEN. */
const relistened = (dropped: number[]) =>
  vi.waitFor(
    async () => {
      const pids = await listenerPids();
      expect(pids).toHaveLength(1);
      expect(dropped).not.toContain(pids[0]);
    },
    { timeout: 20_000, interval: 100 },
  );

describe.skipIf(!onRealPostgres)(`the notification listener ${POSTGRES_ONLY}`, () => {
  beforeAll(async () => {
    name = `qe_listen_${randomBytes(6).toString("hex")}`;
    await adminQuery(testDatabaseUrl!, `CREATE DATABASE ${name}`);
    url = databaseUrl(testDatabaseUrl!, name);
    // The observer watches from the server's own database, so that refusing connections to ours spares it.
    admin = new pg.Client({ connectionString: testDatabaseUrl });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await adminQuery(testDatabaseUrl!, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });

  it("reconnects as one connection after each drop, and keeps trying while the server refuses it", async () => {
    const heard: string[] = [];
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const stop = await listenOn(url, { retryDelayMs: () => 50 })(CHANNEL, (payload) => heard.push(payload));
    try {
      const notify = async (payload: string) => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        await client.query("SELECT pg_notify($1, $2)", [CHANNEL, payload]);
        await client.end();
      };
      for (let drop = 1; drop <= 5; drop++) {
        await relistened(await dropListeners());
        await notify(`after drop ${drop}`);
        await vi.waitFor(() => expect(heard).toContain(`after drop ${drop}`), { timeout: 20_000, interval: 50 });
      }
      // Reconnects fail while the database refuses connections (superusers too): they go on until it takes them.
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      const dropped = await dropListeners();
      await vi.waitFor(() => expect(warn.mock.calls.filter(([m]) => String(m).includes("reconnect failed")).length).toBeGreaterThan(2), {
        timeout: 20_000,
        interval: 50,
      });
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await relistened(dropped);
      await notify("after refusals");
      await vi.waitFor(() => expect(heard).toContain("after refusals"), { timeout: 20_000, interval: 50 });
      expect(await listeners()).toBe(1);
    } finally {
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await stop();
      warn.mockRestore();
    }
    await vi.waitFor(async () => expect(await listeners()).toBe(0), { timeout: 10_000, interval: 100 });
  }, 120_000);
});

describe("npm start's forwarding of notifications", () => {
  it("drops a notification that is not a change, and forwards the real changes beside it", async () => {
    const stack = await startTestStack({ forwardNotifications: true });
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      const { db } = stack.connection;
      await db.execute(sql`SELECT pg_notify('embedding_queue', 'not json at all')`);
      await db.transaction(async (tx) => {
        await tx.execute(sql`SELECT pg_notify('embedding_queue', '{"contentType": 5, "contentId": null}')`);
        await tx.insert(communityPost).values({ title: "Forwarded beside a bad notification" });
      });
      const [post] = await db.select().from(communityPost).where(eq(communityPost.title, "Forwarded beside a bad notification"));
      await vi.waitFor(async () => expect(await stack.embeddedChunks(post!.id)).toBe(1), { timeout: 30_000, interval: 100 });
      expect(warn.mock.calls.filter(([m]) => String(m).includes("not a change"))).toHaveLength(2);
    } finally {
      warn.mockRestore();
      await stack.close();
    }
  }, 60_000);
});
