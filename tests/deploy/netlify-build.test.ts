// Netlify's own build, offline (README "Deploy (Netlify)"): netlify-cli runs netlify.toml's command and
// bundles the Functions (zip-it-and-ship-it) and the Edge Functions (Deno), in a copy of the repository,
// with the tools installed by the test (support/deploy-tools.ts). Then each artefact is called as Netlify
// calls it: each Function's zip through its Lambda entry point under Node.js 22, each Edge Function's
// module under Deno with the `Netlify` global, its database a local PGlite behind a stand-in for Neon's
// WebSocket proxy.
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NEEDS_WEBSOCKET } from "../../functions/db/neon";
import { BASE_PATH, ENDPOINT_LIST } from "../../functions/endpoints";
import { NETLIFY_EDGE_DIR, PUBLISH_DIR } from "../../scripts/build-netlify";
import { startRelayedPglite } from "../../testing/neon-relay";
import { callInDeno, type EdgeRequest } from "./support/deno";
import { deployEnv } from "./support/deploy-env";
import { type DeployTools, deployTools } from "./support/deploy-tools";
import { copyProject, type ProjectCopy } from "./support/project-copy";

const run = promisify(execFile);
const SUPPORT = `${import.meta.dirname}/support`;
const NODE_FUNCTIONS = ENDPOINT_LIST.filter((e) => e.runtime.kind === "node");
const EDGE_FUNCTIONS = ENDPOINT_LIST.filter((e) => e.runtime.kind === "edge");
const SITE = "https://qstash-embeddings.netlify.app";
const ENV = deployEnv("netlify", SITE);

let tools: DeployTools;
let project: ProjectCopy;
let buildLog: string;
let relay: Awaited<ReturnType<typeof startRelayedPglite>>;

beforeAll(async () => {
  tools = deployTools();
  project = copyProject();
  // Offline only: the one remote module Netlify's config extractor imports (a type, from edge.netlify.com)
  // comes from a local stub; the extractor still runs each Edge Function's `config` in Deno.
  mkdirSync(`${project.dir}/.offline`);
  writeFileSync(`${project.dir}/.offline/netlify-types.ts`, "export type NetlifyGlobal = { env: unknown; context: unknown };\n");
  writeFileSync(
    `${project.dir}/.offline/import-map.json`,
    JSON.stringify({ imports: { "https://edge.netlify.com/bootstrap/globals/types.ts": "./netlify-types.ts" } }),
  );
  const toml = readFileSync(`${project.dir}/netlify.toml`, "utf8");
  expect(toml).toMatch(/^\[functions\]$/m);
  writeFileSync(
    `${project.dir}/netlify.toml`,
    toml.replace(/^\[functions\]$/m, '[functions]\n  deno_import_map = ".offline/import-map.json"'),
  );

  const { stdout, stderr } = await run(tools.netlify, ["build", "--offline"], {
    cwd: project.dir,
    env: {
      PATH: `${tools.bin}:${process.env.PATH}`,
      HOME: process.env.HOME,
      NETLIFY_TELEMETRY_DISABLED: "1",
      DENO_DIR: `${project.dir}/.deno`,
    },
    timeout: 580_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  buildLog = stdout + stderr;

  relay = await startRelayedPglite();
}, 900_000);

afterAll(async () => {
  await relay?.close();
  project?.remove();
});

type Answer = { status: number; body: string } | { error: string };

/** Unzips a built Function and calls it through its Lambda entry point under `node`. */
async function callFunction(node: string, name: string, request: { url: string; method: string; body?: string }): Promise<Answer> {
  const dir = `${project.dir}/.netlify/unzipped/${name}`;
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    execFileSync("unzip", ["-q", `${project.dir}/.netlify/functions/${name}.zip`, "-d", dir]);
  }
  const { stdout } = await run(node, [`${SUPPORT}/call-netlify-function.mjs`, dir, JSON.stringify(request)], {
    env: { PATH: process.env.PATH, ...ENV },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

const callEdge = (name: string, requests: EdgeRequest[]) =>
  callInDeno(tools, `${project.dir}/${NETLIFY_EDGE_DIR}/${name}.js`, requests, ENV, relay.webSocketUrl);

describe("netlify build --offline", () => {
  it("runs netlify.toml's build command (not Vite's) and bundles every Function and Edge Function without an error", () => {
    expect(buildLog).toMatch(/\$ npm run build:netlify/);
    expect(buildLog).not.toMatch(/vite build/);
    expect(buildLog).toMatch(/Netlify Build Complete/);
    // Netlify logs a failed config extraction and builds on, with the function left unrouted.
    expect(buildLog).not.toMatch(/Could not load configuration|Bundling of edge function failed|error/i);
  });

  it("builds each of the table's Node.js functions as a Netlify Function on Node.js 22, at the table's paths", () => {
    const manifest = JSON.parse(readFileSync(`${project.dir}/.netlify/functions/manifest.json`, "utf8")) as {
      functions: { name: string; runtimeVersion: string; routes: { literal: string }[] }[];
    };
    expect(manifest.functions.map((f) => f.name).sort()).toEqual(NODE_FUNCTIONS.map((e) => e.name).sort());
    for (const endpoint of NODE_FUNCTIONS) {
      const built = manifest.functions.find((f) => f.name === endpoint.name)!;
      expect(built.runtimeVersion, endpoint.name).toBe("nodejs22.x");
      expect(built.routes.map((r) => r.literal)).toEqual(endpoint.routes.map((r) => `${BASE_PATH}/${r.path}`));
    }
  });

  it("pins Node.js 22 where Netlify reads it: the build's NODE_VERSION, which the Functions inherit", () => {
    const resolved = readFileSync(`${project.dir}/.netlify/netlify.toml`, "utf8");
    expect(resolved).toMatch(/NODE_VERSION = "22"/);
  });

  it("routes each of the table's edge functions to its paths, as the Edge Functions' manifest says", () => {
    const manifest = JSON.parse(readFileSync(`${project.dir}/.netlify/edge-functions-dist/manifest.json`, "utf8")) as {
      bundles: { asset: string }[];
      routes: { function: string; path: string }[];
    };
    for (const bundle of manifest.bundles) expect(existsSync(`${project.dir}/.netlify/edge-functions-dist/${bundle.asset}`)).toBe(true);
    for (const endpoint of EDGE_FUNCTIONS) {
      const paths = manifest.routes.filter((r) => r.function === endpoint.name).map((r) => r.path);
      expect(paths, endpoint.name).toEqual(endpoint.routes.map((r) => `${BASE_PATH}/${r.path}`));
    }
    expect(new Set(manifest.routes.map((r) => r.function))).toEqual(new Set(EDGE_FUNCTIONS.map((e) => e.name)));
  });

  it("publishes nothing of the repository: a robots.txt alone", () => {
    expect(readdirSync(`${project.dir}/${PUBLISH_DIR}`, { recursive: true })).toEqual(["robots.txt"]);
  });

  it("builds Functions that load and answer under Node.js 22 (an unsigned call: 401)", async () => {
    for (const endpoint of NODE_FUNCTIONS) {
      for (const route of endpoint.routes) {
        const answer = await callFunction(tools.node22, endpoint.name, {
          url: `${SITE}${BASE_PATH}/${route.path}`,
          method: "POST",
          body: "{}",
        });
        expect(answer, route.path).toMatchObject({ status: 401, body: expect.stringMatching(/Upstash-Signature/) });
      }
    }
  });

  it.runIf(Number(process.versions.node.split(".")[0]) < 22)(
    "builds Functions that answer on Node.js 20 too, which has no global WebSocket: `ws` stands in for Neon's driver",
    async () => {
      const answer = await callFunction(process.execPath, "drain", { url: `${SITE}${BASE_PATH}/drain`, method: "POST", body: "{}" });
      expect(answer).not.toEqual({ error: NEEDS_WEBSOCKET });
      expect(answer).toMatchObject({ status: 401, body: expect.stringMatching(/Upstash-Signature/) });
    },
  );

  it("builds Edge Functions that run in Deno: each refuses a call without its credential", async () => {
    const [enqueue] = await callEdge("enqueue", [{ url: `${SITE}${BASE_PATH}/enqueue`, method: "POST", body: "{}" }]);
    expect(enqueue).toMatchObject({ status: 401, body: expect.stringMatching(/WEBHOOK_SECRET/) });
    const [search] = await callEdge("search", [{ url: `${SITE}${BASE_PATH}/search`, method: "POST", body: "{}" }]);
    expect(search).toMatchObject({ status: 401, body: expect.stringMatching(/SEARCH_TOKEN/) });
    const status = await callEdge("status", [{ url: `${SITE}${BASE_PATH}/status` }]);
    expect(status[0]).toMatchObject({ status: 401, body: expect.stringMatching(/ADMIN_TOKEN/) });
  });

  it("builds Edge Functions that reach the database from Deno: status, queue and processor answer 200 with the admin token", async () => {
    const status = EDGE_FUNCTIONS.find((e) => e.name === "status")!;
    const answers = await callEdge(
      "status",
      status.routes.map((r) => ({ url: `${SITE}${BASE_PATH}/${r.path}`, headers: { authorization: `Bearer ${ENV.ADMIN_TOKEN}` } })),
    );
    for (const [i, answer] of answers.entries()) expect(answer.status, `${status.routes[i]!.path}: ${answer.body}`).toBe(200);
  });
});
