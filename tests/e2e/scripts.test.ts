// The npm scripts run as a person runs them, each in a process of its own: a Ctrl-C, an exit code and
// a one-line refusal are the process's, so these spawn it. Their logic is tested in process elsewhere
// (tests/backfill-schedules.test.ts calls scripts/lib/ and scripts/schedules.ts's main).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it, vi } from "vitest";
import { communityComment, communityPost, embeddingQueue, embeddings, HNSW_INDEX } from "../../schema";
import { openPglite } from "../../scripts/lib/database";
import { startEmulator } from "../../scripts/qstash-emulator/http";
import { startFakeOpenAI } from "../../testing/fake-openai";
import { launch, launchScript, runScript, stopLaunched } from "../support/launch";

afterAll(stopLaunched);

/** A migrated file-backed PGlite in a temporary folder, with `rows` written, nothing queued. */
async function databaseFolder(rows: (app: Awaited<ReturnType<typeof openPglite>>) => Promise<unknown>) {
  const dir = mkdtempSync(join(tmpdir(), "qe-backfill-"));
  const app = await openPglite(dir);
  await app.migrate();
  await rows(app);
  await app.db.delete(embeddingQueue); // rows that predate the pipeline
  await app.close();
  return dir;
}

describe("npm run backfill", () => {
  it("-- --drain stopped by Ctrl-C builds the HNSW index before it exits", async () => {
    // A slow embedding API, so that the load is still running when the signal comes.
    const api = await startFakeOpenAI({ latencyMs: 1500 });
    const dir = await databaseFolder((app) =>
      app.db.insert(communityPost).values(Array.from({ length: 300 }, (_, i) => ({ title: `Interrupted post ${i}` }))),
    );
    try {
      const child = launchScript("scripts/backfill.ts", ["post", "--drain"], {
        PGLITE_DATA_DIR: dir,
        OPENAI_API_KEY: "test-openai-key",
        OPENAI_BASE_URL: api.url,
        DRAIN_BATCH_SIZE: "20",
      });
      await vi.waitFor(() => expect(api.received).toBeGreaterThan(0), { timeout: 90_000, interval: 100 });
      child.signal("SIGINT"); // to the process group, as a terminal's Ctrl-C
      expect(await child.exited, child.output).toBe(130);
      expect(child.output).toContain("building the HNSW index before stopping");

      const after = await openPglite(dir);
      const present = await after.db.$count(sql`pg_indexes`, sql`indexname = ${HNSW_INDEX}`);
      await after.close();
      expect(present).toBe(1);
    } finally {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("-- post --drain queues and embeds only that type", async () => {
    const dir = await databaseFolder(async (app) => {
      await app.db.insert(communityPost).values({ title: "A post from before" });
      await app.db.insert(communityComment).values({ body: "A comment from before" });
    });
    try {
      const run = launch("npm", ["run", "backfill", "--", "post", "--drain"], { PGLITE_DATA_DIR: dir });
      expect(await run.exited, run.output).toBe(0);
      expect(run.output).toContain("Done: 1 embedded, 0 failed");

      const after = await openPglite(dir);
      const stored = await after.db.select({ type: embeddings.contentType }).from(embeddings);
      await after.close();
      expect(stored).toEqual([{ type: "post" }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("npm run schedules", () => {
  it("without QSTASH_TOKEN or SITE_URL says which, in one line, without a stack trace, and exits 1", async () => {
    const emulator = await startEmulator({ token: "t", currentSigningKey: "a", nextSigningKey: "b" });
    try {
      const noToken = await runScript("scripts/schedules.ts", [], { SITE_URL: "https://app.example.com" });
      expect(noToken.code).toBe(1);
      expect(noToken.output.trim()).toMatch(/^QSTASH_TOKEN is not set/);
      expect(noToken.output).not.toMatch(/\n\s+at /);
      const noSite = await runScript("scripts/schedules.ts", [], { QSTASH_TOKEN: "t", QSTASH_URL: emulator.url });
      expect(noSite.output.trim()).toMatch(/^SITE_URL is not set/);
      expect(noSite.output).not.toMatch(/\n\s+at /);
    } finally {
      await emulator.close();
    }
  });
});
