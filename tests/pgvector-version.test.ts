// pgvector's version (issue 21): what each version gives the pipeline, a clear refusal of one too old
// for the migrations, and the version read from the server, on PGlite and on the real PostgreSQL.
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rowsOf } from "../functions/db/database";
import { atLeast, pgvectorSupport, readPgvectorVersion, requirePgvector, versionAtLeastSql } from "../functions/db/pgvector";
import { applySearchSettings } from "../functions/search";
import type { Connection } from "../scripts/lib/database";
import { freshDatabase, onRealPostgres } from "./support/database";

let connection: Connection;
beforeAll(async () => {
  connection = await freshDatabase();
});
afterAll(async () => {
  await connection.close();
});

describe("what each pgvector version supports", () => {
  it("compares versions part by part", () => {
    expect(atLeast("0.8.0", "0.8.0")).toBe(true);
    expect(atLeast("0.10.0", "0.8.0")).toBe(true);
    expect(atLeast("0.7.4", "0.8.0")).toBe(false);
    expect(atLeast("1.0", "0.8.0")).toBe(true);
    expect(atLeast("nonsense", "0.5.0")).toBe(false);
  });

  it.each([
    ["0.8.1", { hnsw: true, halfvec: true, iterativeScan: true }, /^pgvector 0\.8\.1: every feature/],
    ["0.7.4", { hnsw: true, halfvec: true, iterativeScan: false }, /^pgvector 0\.7\.4: no iterative index scans .* needs 0\.8\.0$/],
    ["0.6.0", { hnsw: true, halfvec: false, iterativeScan: false }, /no halfvec .* needs 0\.7\.0; no iterative/],
  ])("pgvector %s", (version, features, summary) => {
    const support = pgvectorSupport(version);
    expect(support.features).toEqual(features);
    expect(support.tooOld).toBeUndefined();
    expect(support.summary).toMatch(summary);
  });

  it("says what to do with one too old for the HNSW index", () => {
    const { tooOld, summary } = pgvectorSupport("0.4.4");
    expect(tooOld).toMatch(/^pgvector 0\.4\.4 is too old: the pipeline needs 0\.5\.0 or later for the HNSW index/);
    expect(tooOld).toMatch(/ALTER EXTENSION vector UPDATE/);
    expect(summary).toBe(tooOld);
  });

  it("compares the same way in SQL (search asks the server so)", async () => {
    const cases: [string, string, boolean][] = [
      ["0.8.0", "0.8.0", true],
      ["0.10.1", "0.8.0", true],
      ["0.7.4", "0.8.0", false],
      ["0.5.1", "0.7.0", false],
    ];
    for (const [version, since, expected] of cases) {
      const [row] = await rowsOf<{ ok: boolean }>(
        connection.db.execute(sql`SELECT ${versionAtLeastSql(sql`${version}::text`, since)} AS ok`),
      );
      expect(row!.ok, `${version} >= ${since}`).toBe(expected);
      expect(atLeast(version, since)).toBe(expected);
    }
  });
});

describe(`the version on the server (${onRealPostgres ? "real PostgreSQL" : "PGlite"})`, () => {
  it("is read and is recent enough for everything the pipeline uses", async () => {
    const found = await readPgvectorVersion(connection.db);
    expect(found).toMatchObject({ installed: true, version: expect.stringMatching(/^\d+\.\d+\.\d+$/) });
    const support = await requirePgvector(connection.db);
    expect(support.features.iterativeScan).toBe(true);
  });

  it("lets search turn iterative scans on where pgvector has them", async () => {
    const scan = await connection.db.transaction(async (tx) => {
      await applySearchSettings(tx, undefined, 40, 5000);
      const [row] = await rowsOf<{ scan: string }>(tx.execute(sql`SELECT current_setting('hnsw.iterative_scan', true) AS scan`));
      return row!.scan;
    });
    expect(scan).toBe("relaxed_order");
  });
});
