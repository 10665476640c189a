// A fresh, migrated in-memory PGlite with pgvector for a test.
import { inject } from "vitest";
import { openPglite, type Connection } from "../../scripts/lib/database";

export async function freshDatabase(): Promise<Connection> {
  return openPglite(undefined, new Blob([inject("migratedDatabase") as Uint8Array<ArrayBuffer>]));
}
