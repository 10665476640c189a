// What most test files open first and close last, registered as the file's beforeAll and afterAll hooks.
import { afterAll, beforeAll } from "vitest";
import type { Database } from "../../functions/db/database";
import type { Connection } from "../../scripts/lib/database";
import { type FakeOpenAI, startFakeOpenAI } from "../../testing/fake-openai";
import { freshDatabase } from "./database";

/** A fresh database and a fake OpenAI server for the file's tests (set once its beforeAll has run). */
export function useDatabaseAndApi() {
  const opened = {} as { connection: Connection; api: FakeOpenAI };
  beforeAll(async () => {
    [opened.connection, opened.api] = await Promise.all([freshDatabase(), startFakeOpenAI()]);
  });
  afterAll(async () => {
    await Promise.all([opened.connection?.close(), opened.api?.close()]);
  });
  return opened;
}

/** Empties tables, in order (children first), between tests that share a file's database. */
export async function emptyTables(db: Database, ...tables: Parameters<Database["delete"]>[0][]) {
  for (const table of tables) await db.delete(table);
}
