// One owner per embedded database folder: scripts run beside `npm start` work through its PostgreSQL
// port instead of opening the folder a second time (which lost their writes and corrupted it), and a
// second `npm start` on the same folder refuses in one sentence.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { openPglite } from "../../scripts/lib/database";
import { onRealPostgres, PGLITE_ONLY } from "../support/database";
import { launchScript, stopLaunched } from "../support/launch";
import { waitFor } from "../support/wait-for";

const folder = mkdtempSync(join(tmpdir(), "qe-owner-"));
const dataDir = join(folder, "pglite");
// PGPORT=0: the system's choice of port, so that two runs on one machine never collide.
const env = { PGLITE_DATA_DIR: dataDir, PORT: "0", PGPORT: "0" };
afterAll(async () => {
  await stopLaunched();
  rmSync(folder, { recursive: true, force: true });
});

describe.skipIf(onRealPostgres)(`the embedded database's folder ${PGLITE_ONLY}`, () => {
  it("has one owner: backfill and migrate beside npm start go through its port, a second start refuses", async () => {
    const stack = launchScript("scripts/start.ts", [], env);
    await waitFor(() => stack.output.includes("is running") || stack.code !== undefined, 90_000, "npm start to come up");
    expect(stack.output).toContain("is running");
    const pgUrl = stack.output.match(/served at (postgres:\/\/\S+)/)![1]!;
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    const count = async (query: string) => Number((await client.query<{ n: string }>(query)).rows[0]!.n);
    try {
      await client.query("INSERT INTO community_comment (body) SELECT 'owner test comment ' || n FROM generate_series(1, 30) n");

      const backfill = launchScript("scripts/backfill.ts", ["comment", "--drain"], env);
      expect(await backfill.exited, backfill.output).toBe(0);
      expect(backfill.output).toContain("working through its PostgreSQL port");
      expect(backfill.output).toMatch(/Done: \d+ embedded, 0 failed/);
      // Every write of the backfill is in the database the stack serves.
      expect(await count("SELECT count(*) AS n FROM embeddings WHERE content_type = 'comment'")).toBe(30);

      const migrate = launchScript("scripts/migrate.ts", [], env);
      expect(await migrate.exited, migrate.output).toBe(0);
      expect(migrate.output).toContain("working through its PostgreSQL port");

      const second = launchScript("scripts/start.ts", [], env);
      expect(await second.exited).toBe(1);
      expect(second.output.trim()).toMatch(/^The embedded database \S+ is in use by `npm start` \(pid \d+\); stop it first/);
    } finally {
      await client.end();
    }

    stack.signal("SIGTERM");
    await stack.exited;
    expect(existsSync(`${dataDir}.owner.json`)).toBe(false);
    // The folder opens cleanly afterwards, with everything written through the port.
    const reopened = await openPglite(dataDir);
    try {
      const { rows } = await reopened.pglite!.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM embeddings WHERE content_type = 'comment'",
      );
      expect(rows[0]!.n).toBe(30);
    } finally {
      await reopened.close();
    }
  });
});
