// The edge-safe database: Neon's serverless driver over WebSocket (supports transactions).
import { neonConfig, Pool } from "@neondatabase/serverless";
import { drizzle } from "drizzle-orm/neon-serverless";
import * as schema from "../../schema/index.js";
import type { Database } from "./database.js";

/** A Drizzle database on a Neon (or any WebSocket-proxied Postgres) URL; `close` ends the pool. */
export function neonDatabase(url: string): { db: Database; close: () => Promise<void> } {
  requireWebSocket();
  const pool = new Pool({ connectionString: url });
  return { db: drizzle({ client: pool, schema }) as unknown as Database, close: () => pool.end() };
}

export const NEEDS_WEBSOCKET =
  "this runtime has no global WebSocket, which Neon's serverless driver needs: run the functions on Node.js 22 or later (Vercel: package.json's engines; Netlify: NODE_VERSION in netlify.toml, or AWS_LAMBDA_JS_RUNTIME=nodejs22.x in its UI)";

/** Stops at once on a runtime without a WebSocket (Node.js 20), where every query would fail as a 503. */
function requireWebSocket(): void {
  if (typeof globalThis.WebSocket === "undefined" && !neonConfig.webSocketConstructor) throw new Error(NEEDS_WEBSOCKET);
}
