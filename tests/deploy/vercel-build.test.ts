// `vercel build` offline (README "Deploy (Vercel)"), in a copy of the repository linked to a placeholder
// project (support/project-copy.ts: the working tree's `.vercel/` is never touched): every endpoint becomes
// a function at its Vercel path, on the runtime that fits it, the long-running ones on Node.js 22 with
// vercel.json's maxDuration, the short ones on the edge. Then each is called as Vercel calls it: the
// Node.js output imported by Node.js 22 itself (its ESM resolves no extensionless import); the edge
// output bundled as Vercel bundles it at deploy (esbuild, `edge-light`) and run in Deno, its database a
// local PGlite behind a stand-in for Neon's WebSocket proxy.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NEEDS_WEBSOCKET } from "../../functions/db/neon";
import { BASE_PATH, ROUTES } from "../../functions/endpoints";
import { bundleForEdge } from "../../scripts/build-edge";
import { startRelayedPglite } from "../../testing/neon-relay";
import { callInDeno } from "./support/deno";
import { deployEnv } from "./support/deploy-env";
import { type DeployTools, deployTools } from "./support/deploy-tools";
import { copyProject, type ProjectCopy } from "./support/project-copy";

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
const SITE = "https://qstash-embeddings.vercel.app";
const ENV = deployEnv("vercel", SITE);
const vercelJson = JSON.parse(readFileSync("vercel.json", "utf8")) as {
  regions: string[];
  functions: Record<string, { maxDuration: number }>;
};
const run = promisify(execFile);
/**
 * The conditions Vercel resolves an edge function's packages with (@vercel/node's trace, in that order):
 * with "require" among them a package's first matching export wins, as in the `.func` Vercel uploads.
 */
const VERCEL_EDGE_CONDITIONS = ["edge-light", "browser", "module", "import", "require"];

let tools: DeployTools;
let project: ProjectCopy;
let output: string;
let relay: Awaited<ReturnType<typeof startRelayedPglite>>;
const vcConfig = (endpoint: string) => JSON.parse(readFileSync(`${output}/${endpoint}.func/.vc-config.json`, "utf8"));

beforeAll(async () => {
  tools = deployTools();
  project = copyProject();
  output = `${project.dir}/.vercel/output/functions${BASE_PATH}`;
  // Without a linked project vercel build stops (or, with --yes, builds nothing): link to a placeholder.
  mkdirSync(`${project.dir}/.vercel`);
  writeFileSync(
    `${project.dir}/.vercel/project.json`,
    JSON.stringify({
      projectId: "prj_placeholder",
      orgId: "team_placeholder",
      settings: { framework: null, installCommand: "echo dependencies-already-installed" },
    }),
  );
  await run(`${project.dir}/node_modules/.bin/vercel`, ["build", "--yes"], {
    cwd: project.dir,
    env: { ...process.env, VERCEL_TELEMETRY_DISABLED: "1", CI: "1" },
    timeout: 580_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  relay = await startRelayedPglite();
}, 900_000);

afterAll(async () => {
  await relay?.close();
  project?.remove();
});

/** Imports a built Node.js function under `node` and calls its fetch export. */
async function callNode(node: string, endpoint: string) {
  const handler = `${output}/${endpoint}.func/${vcConfig(endpoint).handler}`;
  const script = `try {
  const { default: fn } = await import(${JSON.stringify(handler)});
  const response = await fn.fetch(new Request("${SITE}${BASE_PATH}/${endpoint}", { method: "POST", body: "{}" }));
  console.log(JSON.stringify({ status: response.status, body: await response.json() }));
} catch (error) { console.log(JSON.stringify({ error: error.message })); }`;
  const { stdout } = await run(node, ["--input-type=module", "-e", script], { env: { PATH: process.env.PATH, ...ENV }, timeout: 60_000 });
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

describe("vercel build", () => {
  it("puts the table's Node.js functions on Node.js 22 with its maxDuration, as vercel.json says", () => {
    for (const endpoint of NODE) {
      const config = vcConfig(endpoint);
      // package.json's engines: Neon's driver needs Node 22's global WebSocket.
      expect(config.runtime, endpoint).toBe("nodejs22.x");
      expect(config.maxDuration, endpoint).toBe(vercelJson.functions[`api/embeddings/${endpoint}.ts`]!.maxDuration);
      expect(config.maxDuration, endpoint).toBe(maxDurationOf(endpoint));
    }
  });

  it("names one region for the Node.js functions (vercel.json; README: beside the database's)", () => {
    expect(vercelJson.regions).toHaveLength(1);
    expect(vercelJson.regions[0]).toMatch(/^[a-z]{3}\d$/);
  });

  it("keeps the table's edge functions on the edge, where maxDuration does not apply, and builds nothing else", () => {
    for (const endpoint of EDGE) {
      expect(vcConfig(endpoint), endpoint).toMatchObject({ runtime: "edge", entrypoint: `api/embeddings/${endpoint}.js` });
      expect(vcConfig(endpoint).maxDuration, endpoint).toBeUndefined();
    }
    const built = readdirSync(output, { recursive: true })
      .filter((p) => String(p).endsWith(".func"))
      .map((p) => String(p).replace(/\.func$/, ""));
    expect(built.sort()).toEqual([...NODE, ...EDGE].sort());
  });

  it("builds Node.js functions that Node.js 22 loads and that answer (an unsigned call: 401)", async () => {
    expect(SIGNED_NODE.length).toBeGreaterThan(0);
    for (const endpoint of SIGNED_NODE) {
      expect(existsSync(`${output}/${endpoint}.func/${vcConfig(endpoint).handler}`), endpoint).toBe(true);
      expect(await callNode(tools.node22, endpoint), endpoint).toMatchObject({
        status: 401,
        body: { error: expect.stringMatching(/Upstash-Signature/) },
      });
    }
  });

  it.runIf(Number(process.versions.node.split(".")[0]) < 22)(
    "builds Node.js functions that answer on Node.js 20 too, which has no global WebSocket: `ws` stands in for Neon's driver",
    async () => {
      const answer = await callNode(process.execPath, "drain");
      expect(answer).not.toEqual({ error: NEEDS_WEBSOCKET });
      expect(answer).toMatchObject({ status: 401, body: { error: expect.stringMatching(/Upstash-Signature/) } });
    },
  );

  it("builds edge functions that run once bundled for the edge: credentials refused, status 200 from the database", async () => {
    const module = async (endpoint: string) => {
      const dir = `${output}/${endpoint}.func`;
      const code = await bundleForEdge(
        { contents: `export { default } from "./${vcConfig(endpoint).entrypoint}";`, resolveDir: dir, sourcefile: `${endpoint}.vercel.js` },
        endpoint,
        { conditions: VERCEL_EDGE_CONDITIONS },
      );
      writeFileSync(`${dir}/bundled.js`, code);
      return `${dir}/bundled.js`;
    };
    const call = async (endpoint: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
      (await callInDeno(tools, await module(endpoint), [{ url: `${SITE}${BASE_PATH}/${endpoint}`, ...init }], ENV, relay.webSocketUrl))[0]!;
    expect(await call("enqueue", { method: "POST", body: "{}" })).toMatchObject({
      status: 401,
      body: expect.stringMatching(/WEBHOOK_SECRET/),
    });
    expect(await call("search", { method: "POST", body: "{}" })).toMatchObject({
      status: 401,
      body: expect.stringMatching(/SEARCH_TOKEN/),
    });
    for (const endpoint of ["queue", "processor", "status"]) {
      expect(await call(endpoint), endpoint).toMatchObject({ status: 401, body: expect.stringMatching(/ADMIN_TOKEN/) });
      const answer = await call(endpoint, { headers: { authorization: `Bearer ${ENV.ADMIN_TOKEN}` } });
      expect(answer.status, `${endpoint}: ${answer.body.slice(0, 300)}`).toBe(200);
    }
  });

  it("serves nothing of the repository as a static file: not the sources, not .data/ (the local database)", () => {
    expect(readdirSync(`${project.dir}/.vercel/output/static`, { recursive: true })).toEqual(["robots.txt"]);
  });
});
