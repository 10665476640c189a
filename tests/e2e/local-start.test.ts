// `npm start` on a fresh machine: no environment, the embedded defaults, a row inserted through SQL
// over the PostgreSQL port is searchable seconds later. On a real PostgreSQL (TEST_DATABASE_URL), the
// same with DATABASE_URL: the stack listens for the triggers' notifications on that database.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import type { Connection } from "../../scripts/lib/database";
import { freshDatabase, onRealPostgres } from "../support/database";
import { type Launched, launch, stopLaunched } from "../support/launch";
import { waitFor } from "../support/wait-for";

let child: Launched | undefined;
let connection: Connection | undefined;
const home = mkdtempSync(join(tmpdir(), "qe-start-"));
// The default's shape on a fresh clone: neither `.data` nor `.data/pglite` exists yet.
const dataDir = join(home, ".data", "pglite");
afterAll(async () => {
  // Its database is dropped next: let the stack close its connections first (a few seconds at most),
  // then kill whatever of npm's process group is left.
  child?.signal("SIGTERM");
  if (child) await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
  await stopLaunched();
  await connection?.close();
  rmSync(home, { recursive: true, force: true });
});

describe("npm start", () => {
  const name = onRealPostgres
    ? "with DATABASE_URL forwards the triggers' notifications: a row inserted through SQL is searchable in seconds"
    : "comes up with no environment and makes a row inserted through SQL searchable";
  it(name, async () => {
    // Only where to keep the data, so this test never touches a developer's .data/, and ports the
    // system chooses, so that two runs on one machine never collide.
    const env: Record<string, string | undefined> = {
      PGLITE_DATA_DIR: dataDir,
      PORT: "0",
      PGPORT: "0",
      QSTASH_EMULATOR_BACKOFF: "fast",
    };
    if (onRealPostgres) env.DATABASE_URL = (connection = await freshDatabase()).url;
    child = launch("npm", ["start"], env);
    const started = child;
    await waitFor(() => started.output.includes("is running") || started.code !== undefined, 120_000, "npm start to come up");
    const output = started.output;
    expect(output, "npm start exited").toContain("is running");
    const api = output.match(/Functions\s+(http:\/\/\S+\/api\/embeddings)/)![1]!;
    const database = connection?.url ?? output.match(/served at (postgres:\/\/\S+)/)![1]!;
    // Search is closed unless opened: the stack makes a token and prints it like its other secrets.
    const searchToken = output.match(/Search token\s+(\S+)/)![1]!;
    expect(output).toContain(`authorization: Bearer ${searchToken}`);

    const client = new pg.Client({ connectionString: database });
    await client.connect();
    await client.query("insert into course (title, description) values ($1, $2)", [
      "Marine biology field course",
      "Tide pools, kelp forests and coral reefs",
    ]);
    await client.end();

    const hit = await waitFor(
      async () => {
        const response = await fetch(`${api}/search`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${searchToken}` },
          body: JSON.stringify({ query: "kelp forests coral reefs" }),
        });
        const { results } = (await response.json()) as { results: { contentType: string; snippet: string }[] };
        return results[0];
      },
      10_000,
      "the course to be searchable",
    );
    expect(hit).toMatchObject({ contentType: "course" });
    expect(hit.snippet).toContain("Marine biology field course");
    await waitFor(() => /\[qstash\] POST \S+\/process-webhook → 200/.test(started.output), 5000, "the delivery to be logged");
  });
});
