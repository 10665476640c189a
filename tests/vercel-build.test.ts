// `vercel build` offline turns api/ into one edge function per endpoint, at its Vercel path.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const ENDPOINTS = ["enqueue", "process-webhook", "process-webhook/failed", "drain", "maintenance", "retry-failed", "search", "queue", "processor", "status"];

describe("vercel build", () => {
  it("builds an edge function for every endpoint", async () => {
    // Without a linked project vercel build exits 0 having built nothing: link to a placeholder.
    mkdirSync(".vercel", { recursive: true });
    writeFileSync(".vercel/project.json", JSON.stringify({
      projectId: "prj_placeholder", orgId: "team_placeholder",
      settings: { framework: null, installCommand: "echo dependencies-already-installed" },
    }));
    rmSync(".vercel/output", { recursive: true, force: true });
    await promisify(execFile)("npx", ["vercel", "build", "--yes"], {
      env: { ...process.env, VERCEL_TELEMETRY_DISABLED: "1", CI: "1" }, timeout: 240_000, maxBuffer: 16 * 1024 * 1024,
    });
    for (const endpoint of ENDPOINTS) {
      const dir = `.vercel/output/functions/api/embeddings/${endpoint}.func`;
      expect(existsSync(dir), dir).toBe(true);
      expect(JSON.parse(readFileSync(`${dir}/.vc-config.json`, "utf8"))).toMatchObject({ runtime: "edge", entrypoint: `api/embeddings/${endpoint}.js` });
    }
    // Nothing of the repository is served as a static file: not the sources, not .data/ (the local database).
    expect(readdirSync(".vercel/output/static", { recursive: true })).toEqual(["robots.txt"]);
  }, 300_000);
});
