// The edge-safe database: Neon's serverless driver over WebSocket (supports transactions).
import { Pool } from "@neondatabase/serverless";
import { drizzle } from "drizzle-orm/neon-serverless";
import * as schema from "../../schema/index.js";
import type { Database } from "./database.js";

/** A Drizzle database on a Neon (or any WebSocket-proxied Postgres) URL; `close` ends the pool. */
export function neonDatabase(url: string): { db: Database; close: () => Promise<void> } {
  const pool = new Pool({ connectionString: url });
  return { db: drizzle({ client: pool, schema }) as unknown as Database, close: () => pool.end() };
}
