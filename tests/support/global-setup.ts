// Migrates one database once for the whole run; each test file starts from a copy of it: a dump of a
// PGlite, or, on a real PostgreSQL (TEST_DATABASE_URL), a template database dropped at the end. `npm
// test`'s two projects (vitest.config.ts) each call this: they share the one migration.
import { randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";
import { openPglite, postgresConnection } from "../../scripts/lib/database";
import { adminQuery, databaseUrl } from "../../scripts/lib/postgres-admin";
import { testDatabaseUrl } from "./database";

type Prepared = { dump: Uint8Array; template?: string };
// Each project loads this file as a module of its own; the process, the run's main one, is the same.
const run = globalThis as { qeTestDatabase?: { prepared: Promise<Prepared>; users: number } };

async function prepare(): Promise<Prepared> {
  const connection = await openPglite();
  await connection.migrate();
  const dump = new Uint8Array(await (await connection.pglite!.dumpDataDir("gzip")).arrayBuffer());
  await connection.close();
  const serverUrl = testDatabaseUrl;
  if (!serverUrl) return { dump };

  const template = `qe_template_${randomBytes(6).toString("hex")}`;
  await adminQuery(serverUrl, `CREATE DATABASE ${template}`);
  const server = postgresConnection(databaseUrl(serverUrl, template));
  await server.migrate({ sampleTables: true });
  await server.close(); // a template must have no connections when it is copied
  return { dump, template };
}

export default async function setup(project: TestProject) {
  run.qeTestDatabase ??= { prepared: prepare(), users: 0 };
  const shared = run.qeTestDatabase;
  shared.users++;
  const { dump, template } = await shared.prepared;
  project.provide("migratedDatabase", dump);
  if (template) project.provide("templateDatabase", template);
  return async () => {
    if (--shared.users > 0 || !template) return;
    await adminQuery(testDatabaseUrl!, `DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    migratedDatabase: Uint8Array;
    templateDatabase: string;
  }
}
