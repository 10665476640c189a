// Migrates one PGlite once for the whole run; each test file starts from a copy of it.
import type { TestProject } from "vitest/node";
import { openPglite } from "../../scripts/lib/database";

export default async function setup(project: TestProject) {
  const connection = await openPglite();
  await connection.migrate();
  const dump = await connection.pglite!.dumpDataDir("gzip");
  await connection.close();
  project.provide("migratedDatabase", new Uint8Array(await dump.arrayBuffer()));
}

declare module "vitest" {
  export interface ProvidedContext {
    migratedDatabase: Uint8Array;
  }
}
