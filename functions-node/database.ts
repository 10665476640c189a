// The Node.js functions' database (and the scripts'): the driver chosen from DATABASE_URL's host.
// Neon's serverless driver for Neon; node-postgres over TCP for any other (Supabase, RDS, self-hosted),
// which an edge runtime could not open. Never bundled for the edge: only Node.js entries import it.
import { neonConfig } from "@neondatabase/serverless";
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import ws from "ws";
import { isNeonHost, namingHost } from "../functions/db/connection-error.js";
import type { Database } from "../functions/db/database.js";
import { neonDatabase, type OpenedDatabase } from "../functions/db/neon.js";
import type { DatabaseOpener } from "../functions/edge.js";
import * as schema from "../schema/index.js";

/**
 * A node-postgres pool whose connections may drop without taking the process down. A dropped
 * connection fails its query (a transient error: the item is retried) and then emits an error of its
 * own, which node-postgres throws as uncaught unless the connection listens: so every one does. A
 * connection that cannot be opened names the host and the cause.
 */
export function nodePostgresPool(options: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(options);
  if (options.connectionString) namingHost(pool, options.connectionString, "node-postgres over TCP");
  pool.on("connect", (client) => client.on("error", (error) => console.warn(`[database] connection lost: ${error.message}`)));
  pool.on("error", () => undefined); // an idle connection's drop, already logged by its own listener
  return pool;
}

/** Neon's driver in Node: Node 20 has no global WebSocket (22 has), so `ws` stands in. */
export function neonDatabaseInNode(url: string): OpenedDatabase {
  if (typeof globalThis.WebSocket === "undefined") neonConfig.webSocketConstructor ??= ws as never;
  return neonDatabase(url);
}

/** node-postgres on any postgres:// URL; a few connections: one request's transactions. */
export function nodePostgresDatabase(url: string): OpenedDatabase {
  const pool = nodePostgresPool({ connectionString: url, max: 4 });
  return { db: drizzle({ client: pool, schema }) as unknown as Database, close: () => pool.end() };
}

/** The Node.js functions' choice: Neon's driver for Neon, node-postgres over TCP for any other host (a WebSocket proxy is the edge's). */
export const nodeDatabase: DatabaseOpener = (url: string) => (isNeonHost(url) ? neonDatabaseInNode(url) : nodePostgresDatabase(url));
