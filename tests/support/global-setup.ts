// Migrates one database once for the whole run; each test file starts from a copy of it: a dump of a
// PGlite, or, on a real PostgreSQL (TEST_DATABASE_URL), a template database dropped at the end.
import { randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";
import { openPglite, postgresConnection } from "../../scripts/lib/database";
import { adminQuery, databaseUrl, testDatabaseUrl } from "./database";

export default async function setup(project: TestProject) {
  const connection = await openPglite();
  await connection.migrate();
  const dump = await connection.pglite!.dumpDataDir("gzip");
  await connection.close();
  project.provide("migratedDatabase", new Uint8Array(await dump.arrayBuffer()));
  const serverUrl = testDatabaseUrl;
  if (!serverUrl) return;

  const template = `qe_template_${randomBytes(6).toString("hex")}`;
  await adminQuery(serverUrl, `CREATE DATABASE ${template}`);
  const server = postgresConnection(databaseUrl(serverUrl, template));
  await server.migrate({ sampleTables: true });
  await server.close(); // a template must have no connections when it is copied
  project.provide("templateDatabase", template);
  return () => adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
}

declare module "vitest" {
  export interface ProvidedContext {
    migratedDatabase: Uint8Array;
    templateDatabase: string;
  }
}
