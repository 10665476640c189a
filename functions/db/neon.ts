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
  requireWebSocket();
  // One setting per isolate: an isolate serves one deployment, so one DATABASE_URL.
  if (options.wsProxy) neonConfig.wsProxy = options.wsProxy;
  const how = options.wsProxy ? `Neon's serverless driver through the WebSocket proxy ${options.wsProxy}` : "Neon's serverless driver";
  const pool = namingHost(new Pool({ connectionString: url }), url, how);
  // A connection's own error event (a proxy gone mid-request) fails its query; it must not also be uncaught.
  pool.on("error", () => undefined);
  return { db: drizzle({ client: pool, schema }) as unknown as Database, close: () => pool.end() };
}

export const NEEDS_WEBSOCKET =
  "this runtime has no global WebSocket, which Neon's serverless driver needs: run the functions on Node.js 22 or later (Vercel: package.json's engines; Netlify: NODE_VERSION in netlify.toml, or AWS_LAMBDA_JS_RUNTIME=nodejs22.x in its UI)";

/** Stops at once on a runtime without a WebSocket (Node.js 20), where every query would fail as a 503. */
function requireWebSocket(): void {
  if (typeof globalThis.WebSocket === "undefined" && !neonConfig.webSocketConstructor) throw new Error(NEEDS_WEBSOCKET);
}
