// One owner per embedded database folder: scripts run beside `npm start` work through its PostgreSQL
// port instead of opening the folder a second time (which lost their writes and corrupted it), and a
// second `npm start` on the same folder refuses in one sentence.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { openPglite } from "../scripts/lib/database";
import { onRealPostgres, PGLITE_ONLY } from "./support/database";
import { waitFor } from "./support/wait-for";

const folder = mkdtempSync(join(tmpdir(), "qe-owner-"));
const dataDir = join(folder, "pglite");
const env = { PATH: process.env.PATH, HOME: process.env.HOME, PGLITE_DATA_DIR: dataDir, PORT: "0", PGPORT: "25460" };
const children: ChildProcess[] = [];
afterAll(() => {
  // The whole group: tsx runs the script in a child of its own, which a SIGKILL of tsx alone would
  // leave running (a timed-out run here left an `npm start` spinning for an hour).
  for (const child of children) {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
  rmSync(folder, { recursive: true, force: true });
});

/** Runs a script as `npm run` would (tsx, the same entry), collecting its output. */
function run(script: string, args: string[] = []) {
  const child = spawn(join("node_modules", ".bin", "tsx"), [script, ...args], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  children.push(child);
  const result = { output: "", code: undefined as number | null | undefined, child };
  child.stdout!.on("data", (data) => (result.output += data));
  child.stderr!.on("data", (data) => (result.output += data));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve((result.code = code))));
  return { result, exited };
}

describe.skipIf(onRealPostgres)(`the embedded database's folder ${PGLITE_ONLY}`, () => {
  it("has one owner: backfill and migrate beside npm start go through its port, a second start refuses", async () => {
    const stack = run("scripts/start.ts");
    await waitFor(() => stack.result.output.includes("is running") || stack.result.code !== undefined, 90_000, "npm start to come up");
    expect(stack.result.output).toContain("is running");
    const pgUrl = stack.result.output.match(/served at (postgres:\/\/\S+)/)![1]!;
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    const count = async (query: string) => Number((await client.query<{ n: string }>(query)).rows[0]!.n);
    try {
      await client.query("INSERT INTO community_comment (body) SELECT 'owner test comment ' || n FROM generate_series(1, 30) n");

      const backfill = run("scripts/backfill.ts", ["comment", "--drain"]);
      expect(await backfill.exited, backfill.result.output).toBe(0);
      expect(backfill.result.output).toContain("working through its PostgreSQL port");
      expect(backfill.result.output).toMatch(/Done: \d+ embedded, 0 failed/);
      // Every write of the backfill is in the database the stack serves.
      expect(await count("SELECT count(*) AS n FROM embeddings WHERE content_type = 'comment'")).toBe(30);

      const migrate = run("scripts/migrate.ts");
      expect(await migrate.exited, migrate.result.output).toBe(0);
      expect(migrate.result.output).toContain("working through its PostgreSQL port");

      const second = run("scripts/start.ts");
      expect(await second.exited).toBe(1);
      expect(second.result.output.trim()).toMatch(/^The embedded database \S+ is in use by `npm start` \(pid \d+\); stop it first/);
    } finally {
      await client.end();
    }

    stack.result.child.kill("SIGTERM");
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
  }, 240_000);
});
