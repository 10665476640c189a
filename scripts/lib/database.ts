// Node-side database access: PGlite (embedded, with pgvector) when DATABASE_URL is unset, else the
// Node.js functions' choice (functions-node/database.ts): the Neon serverless driver for a Neon URL,
// node-postgres for any other postgres:// URL. Never bundled for the edge.

import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { sql } from "drizzle-orm";
import { migrate as migrateNeon } from "drizzle-orm/neon-serverless/migrator";
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import { migrate as migrateNodePg } from "drizzle-orm/node-postgres/migrator";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import type pg from "pg";
import type { Config } from "../../functions/config";
import { isNeonHost } from "../../functions/db/connection-error";
import type { Database } from "../../functions/db/database";
import { errorMessage } from "../../functions/lib/errors";
import { shownUrl } from "../../functions/lib/shown-url";
import { neonDatabaseInNode, nodePostgresPool } from "../../functions-node/database";
import * as schema from "../../schema";
import { type CopySession, copySession } from "./copy-writer";
import { claimDataDir, currentOwner } from "./data-dir-owner";
import { applyMigrations, type MigrateOptions } from "./migrations";
import { listenOn } from "./notification-listener";
import { tapWireNotifications } from "./wire-notifications";

export const START_COMMAND = "npm start";

export type Connection = {
  db: Database;
  kind: "pglite" | "postgres" | "neon";
  /** Set for the embedded database, to serve it on a port. */
  pglite?: PGlite;
  /** Set for a PostgreSQL server: where it is. */
  url?: string;
  /** Set when this process owns the embedded database's folder: records the port it is served on. */
  serveAt?(pgUrl: string): void;
  /** Applies the pipeline's migrations; `sampleTables` (the default for the embedded database) first
   * creates the education platform's tables, which a real application has already. */
  migrate(options?: MigrateOptions): Promise<void>;
  /** Set for a PostgreSQL server (Neon's too, over TCP): a connection of its own written to by binary COPY (a first load's). */
  copySession?(): Promise<CopySession>;
  /** Calls `listener` with each notification on `channel`, from any session; resolves to a stop function. */
  listen(channel: string, listener: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
};

/** Opens an embedded PGlite with pgvector: in `dataDir` (file backed) or in memory when omitted. */
export async function openPglite(dataDir?: string, loadDataDir?: Blob): Promise<Connection> {
  const client = await PGlite.create({ dataDir, loadDataDir, extensions: { vector } });
  return pgliteConnection(client);
}

export function pgliteConnection(client: PGlite): Connection {
  const db = drizzlePglite({ client, schema }) as unknown as Database;
  return {
    db,
    kind: "pglite",
    pglite: client,
    migrate: (options = { sampleTables: true }) => applyMigrations(db, migratePglite, options),
    async listen(channel, listener) {
      // PGlite's listeners hear its own statements; those arriving over the socket need the tap.
      const unlisten = await client.listen(channel, listener);
      const untap = tapWireNotifications(client, channel, listener);
      return async () => {
        untap();
        await unlisten();
      };
    },
    close: () => client.close(),
  };
}

export { nodePostgresPool };

/**
 * Opens the database the configuration names: DATABASE_URL, or the embedded one in its folder. The
 * folder has one owner: while `npm start` holds it, `command` works through its PostgreSQL port.
 */
export async function openDatabase(config: Config, command: string): Promise<Connection> {
  const url = config.databaseUrl;
  if (!url) {
    const dataDir = config.local.dataDir;
    const owner = currentOwner(dataDir);
    if (owner?.pgUrl && command !== START_COMMAND) {
      console.log(
        `[database] ${dataDir} is held by \`${owner.command}\` (pid ${owner.pid}); working through its PostgreSQL port, ${owner.pgUrl}`,
      );
      // No COPY session: PGlite's port drops a COPY … FROM STDIN ("protocol synchronization was lost",
      // pglite-socket 0.2.17), and its clients share one backend session anyway.
      return { ...postgresConnection(owner.pgUrl), copySession: undefined };
    }
    const claim = claimDataDir(dataDir, command);
    mkdirSync(dataDir, { recursive: true });
    const connection = await openPglite(dataDir).catch((error) => {
      claim.release();
      throw error;
    });
    return {
      ...connection,
      serveAt: claim.serveAt,
      close: async () => {
        await connection.close();
        claim.release();
      },
    };
  }
  return reachable(url, openServerDatabase(url));
}

/** The connection, once it answers; else an error that names DATABASE_URL (shown without credentials). */
async function reachable(url: string, connection: Connection): Promise<Connection> {
  try {
    await connection.db.execute(sql`SELECT 1`);
    return connection;
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw new Error(`DATABASE_URL: cannot reach ${shownUrl(url)} (${errorMessage(error)})`);
  }
}

function openServerDatabase(url: string): Connection {
  if (isNeonHost(url)) {
    const { db, close } = neonDatabaseInNode(url);
    // A first load's COPY goes over TCP, as LISTEN does: node-postgres on the same URL, opened when first asked.
    let copyPool: pg.Pool | undefined;
    return {
      db,
      kind: "neon",
      migrate: (options = {}) => applyMigrations(db, migrateNeon, options),
      copySession: () => copySession((copyPool ??= nodePostgresPool({ connectionString: url }))),
      listen: listenOn(url),
      close: async () => {
        await copyPool?.end();
        await close();
      },
    };
  }
  return postgresConnection(url);
}

/** A node-postgres connection to a PostgreSQL server. */
export function postgresConnection(url: string, onClose?: () => Promise<void>): Connection {
  const pool = nodePostgresPool({ connectionString: url });
  const db = drizzleNodePg({ client: pool, schema }) as unknown as Database;
  return {
    db,
    kind: "postgres",
    url,
    migrate: (options = {}) => applyMigrations(db, migrateNodePg, options),
    copySession: () => copySession(pool),
    listen: listenOn(url),
    close: async () => {
      await pool.end();
      await onClose?.();
    },
  };
}
