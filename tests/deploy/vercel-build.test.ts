// `vercel build` offline: every endpoint becomes a function at its Vercel path, on the runtime that fits
// it (README "Deploy"): the long-running ones on Node.js with vercel.json's maxDuration, the short ones
// on the edge. The Node.js output is run by Node itself, as Vercel runs it (its ESM resolves no
// extensionless import), and must answer.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "../../functions/endpoints";

const routesOn = (kind: "node" | "edge") => ROUTES.filter((r) => r.endpoint.runtime.kind === kind);
const NODE = routesOn("node").map((r) => r.path);
const EDGE = routesOn("edge").map((r) => r.path);
const maxDurationOf = (path: string) => {
  const { runtime } = routesOn("node").find((r) => r.path === path)!.endpoint;
  return runtime.kind === "node" ? runtime.maxDuration : undefined;
};
/** The Node.js routes QStash calls: an unsigned call gets 401. */
const SIGNED_NODE = routesOn("node")
  .filter((r) => r.endpoint.auth === "qstash-signature")
  .map((r) => r.path);
const OUTPUT = ".vercel/output/functions/api/embeddings";
const vercelJson = JSON.parse(readFileSync("vercel.json", "utf8")) as { functions: Record<string, { maxDuration: number }> };
const vcConfig = (endpoint: string) => JSON.parse(readFileSync(`${OUTPUT}/${endpoint}.func/.vc-config.json`, "utf8"));
const run = promisify(execFile);

beforeAll(async () => {
  // Without a linked project vercel build exits 0 having built nothing: link to a placeholder.
  mkdirSync(".vercel", { recursive: true });
  writeFileSync(
    ".vercel/project.json",
    JSON.stringify({
      projectId: "prj_placeholder",
      orgId: "team_placeholder",
      settings: { framework: null, installCommand: "echo dependencies-already-installed" },
    }),
  );
  rmSync(".vercel/output", { recursive: true, force: true });
  await run("npx", ["vercel", "build", "--yes"], {
    env: { ...process.env, VERCEL_TELEMETRY_DISABLED: "1", CI: "1" },
    timeout: 580_000,
    maxBuffer: 16 * 1024 * 1024,
  });
}, 600_000);

describe("vercel build", () => {
  it("puts the table's Node.js functions on Node.js with its maxDuration, as vercel.json says", () => {
    for (const endpoint of NODE) {
      const config = vcConfig(endpoint);
      // Node 22 or later: Neon's driver needs the global WebSocket.
      expect(config.runtime, endpoint).toMatch(/^nodejs(2[2-9]|[3-9]\d)\.x$/);
      expect(config.maxDuration, endpoint).toBe(vercelJson.functions[`api/embeddings/${endpoint}.ts`]!.maxDuration);
      expect(config.maxDuration, endpoint).toBe(maxDurationOf(endpoint));
    }
  });

  it("keeps the table's edge functions on the edge, where maxDuration does not apply, and builds nothing else", () => {
    for (const endpoint of EDGE) {
      expect(vcConfig(endpoint), endpoint).toMatchObject({ runtime: "edge", entrypoint: `api/embeddings/${endpoint}.js` });
      expect(vcConfig(endpoint).maxDuration, endpoint).toBeUndefined();
    }
    const built = readdirSync(OUTPUT, { recursive: true })
      .filter((p) => String(p).endsWith(".func"))
      .map((p) => String(p).replace(/\.func$/, ""));
    expect(built.sort()).toEqual([...NODE, ...EDGE].sort());
  });

  it("builds Node.js functions that Node loads and that answer (an unsigned call: 401)", async () => {
    expect(SIGNED_NODE.length).toBeGreaterThan(0);
    for (const endpoint of SIGNED_NODE) {
      const dir = `${OUTPUT}/${endpoint}.func`;
      const handler = `${dir}/${vcConfig(endpoint).handler}`;
      expect(existsSync(handler), handler).toBe(true);
      const script = `const { default: fn } = await import(${JSON.stringify(`${process.cwd()}/${handler}`)});
const response = await fn.fetch(new Request("https://app.example.com/api/embeddings/${endpoint}", { method: "POST", body: "{}" }));
console.log(JSON.stringify({ status: response.status, body: await response.json() }));`;
      const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
        env: {
          PATH: process.env.PATH,
          DATABASE_URL: "postgres://user:pass@ep-example.eu-central-1.aws.neon.tech/app",
          EMBEDDER: "local",
          QSTASH_CURRENT_SIGNING_KEY: "sig_a",
          QSTASH_NEXT_SIGNING_KEY: "sig_b",
        },
        timeout: 30_000,
      });
      expect(JSON.parse(stdout), endpoint).toMatchObject({ status: 401, body: { error: expect.stringMatching(/Upstash-Signature/) } });
    }
  });

  it("serves nothing of the repository as a static file: not the sources, not .data/ (the local database)", () => {
    expect(readdirSync(".vercel/output/static", { recursive: true })).toEqual(["robots.txt"]);
  });
});
