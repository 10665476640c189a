// The edge-safe database: Neon's serverless driver over WebSocket (supports transactions).
import { neonConfig, Pool } from "@neondatabase/serverless";
import { drizzle } from "drizzle-orm/neon-serverless";
import * as schema from "../../schema/index.js";
import { namingHost } from "./connection-error.js";
import type { Database } from "./database.js";

export type OpenedDatabase = { db: Database; close: () => Promise<void> };

/**
 * A Drizzle database on a Neon URL, or on any Postgres behind a WebSocket proxy (`wsProxy`, Neon's
 * setting: "host:port/path", to which the driver adds `?address=<database host:port>`); `close` ends the pool.
 */
export function neonDatabase(url: string, options: { wsProxy?: string } = {}): OpenedDatabase {
  // One setting per isolate: an isolate serves one deployment, so one DATABASE_URL.
  if (options.wsProxy) neonConfig.wsProxy = options.wsProxy;
  const how = options.wsProxy ? `Neon's serverless driver through the WebSocket proxy ${options.wsProxy}` : "Neon's serverless driver";
  const pool = namingHost(new Pool({ connectionString: url }), url, how);
  // A connection's own error event (a proxy gone mid-request) fails its query; it must not also be uncaught.
  pool.on("error", () => undefined);
  return { db: drizzle({ client: pool, schema }) as unknown as Database, close: () => pool.end() };
}
