// The table of endpoints (functions/endpoints.ts) is what is deployed and served: every route has its
// Vercel entry and every function its Netlify entry, on the table's runtime and maxDuration, with no
// stray one; each entry serves exactly its function's routes, behind the table's auth; the local app
// serves exactly the table's routes, through one body limit and the same JSON 404 as a single function.
// A function added to the table without its entries fails here, naming the missing file.
import { readdirSync, readFileSync } from "node:fs";
import { neonConfig } from "@neondatabase/serverless";
import { beforeAll, describe, expect, it } from "vitest";
import ws from "ws";
import { createAllFunctions, createFunctionApp } from "../functions/app";
import type { Database } from "../functions/db/database";
import { type Auth, BASE_PATH, ENDPOINT_LIST, type Endpoint, ROUTES } from "../functions/endpoints";
import { BODY_LIMIT, MAX_BODY_BYTES } from "../functions/http/create-app";
import { ROUTERS } from "../functions/routers";
import { NETLIFY_EDGE_DIR, PUBLISH_DIR } from "../scripts/build-netlify";
import { testDeps } from "./support/deps";
import { markdownBlock, markdownTable } from "./support/markdown";

type Handler = (request: Request) => Response | Promise<Response>;
type Entry = { default: Handler | { fetch: Handler }; config?: { runtime?: string; path?: string | string[] } };

/** Netlify Functions: "Synchronous execution limit: 60 seconds", not configurable (docs.netlify.com/build/functions/configuration). */
const NETLIFY_SYNC_LIMIT_S = 60;
const vercelJson = JSON.parse(readFileSync("vercel.json", "utf8")) as { functions: Record<string, unknown> };
const tsFiles = (dir: string) =>
  readdirSync(dir, { recursive: true })
    .map(String)
    .filter((file) => file.endsWith(".ts"))
    .map((file) => `${dir}/${file}`)
    .sort();
const vercelEntry = (path: string) => `api/embeddings/${path}.ts`;
const netlifyEntry = (e: Endpoint & { name: string }) =>
  `netlify/${e.runtime.kind === "edge" ? "edge-functions" : "functions"}/${e.name}.ts`;
const routes = ROUTES;
const sorted = (list: string[]) => [...list].sort();

/** What each kind of auth answers a call with no credentials. */
const REFUSAL: Record<Auth, RegExp> = {
  "webhook-secret": /WEBHOOK_SECRET/,
  "qstash-signature": /Upstash-Signature/,
  "search-token": /SEARCH_TOKEN/,
  "admin-token": /ADMIN_TOKEN/,
};
// What the platforms hand the entries: every secret set, so each refusal names the credential missing.
const ENV = {
  DATABASE_URL: "postgres://user:pass@ep-example.eu-central-1.aws.neon.tech/app",
  EMBEDDER: "local",
  WEBHOOK_SECRET: "entries-webhook",
  ADMIN_TOKEN: "entries-admin",
  SEARCH_TOKEN: "entries-search",
  QSTASH_CURRENT_SIGNING_KEY: "sig_entries_current",
  QSTASH_NEXT_SIGNING_KEY: "sig_entries_next",
};
// Nothing here reaches the database: every call is refused or unknown first.
const deps = testDeps({} as Database, { env: ENV });
const call = (app: { fetch: Handler }, method: string, path: string, body?: string) =>
  app.fetch(new Request(`https://app.example.com${BASE_PATH}/${path}`, { method, body }));

beforeAll(() => {
  // The platforms run Node 22, whose global WebSocket Neon's driver needs; this Node may be 20.
  neonConfig.webSocketConstructor ??= ws as unknown as typeof neonConfig.webSocketConstructor;
  Object.assign(process.env, ENV);
  (globalThis as { Netlify?: unknown }).Netlify = { env: { toObject: () => ENV } };
});

describe("the Vercel entries", () => {
  it("are one per route of the table, and nothing else is in api/", () => {
    expect(tsFiles("api")).toEqual(sorted(routes.map((r) => vercelEntry(r.path))));
  });

  it("run where the table says: vercel.json gives each Node.js route its maxDuration, edge entries say edge", async () => {
    const node = routes.filter((r) => r.endpoint.runtime.kind === "node");
    expect(vercelJson.functions).toEqual(
      Object.fromEntries(
        node.map((r) => [vercelEntry(r.path), { maxDuration: (r.endpoint.runtime as { maxDuration: number }).maxDuration }]),
      ),
    );
    for (const route of routes) {
      const entry = (await import(`../${vercelEntry(route.path)}`)) as Entry;
      expect(entry.config?.runtime, route.path).toBe(route.endpoint.runtime.kind === "edge" ? "edge" : undefined);
    }
  });
});

describe("the Netlify entries", () => {
  it("are one per function of the table, on its runtime, at its routes, and nothing else is in netlify/", async () => {
    expect(tsFiles("netlify")).toEqual(sorted(ENDPOINT_LIST.map(netlifyEntry)));
    for (const endpoint of ENDPOINT_LIST) {
      const entry = (await import(`../${netlifyEntry(endpoint)}`)) as Entry;
      expect([entry.config?.path ?? []].flat(), endpoint.name).toEqual(endpoint.routes.map((r) => `${BASE_PATH}/${r.path}`));
      if (endpoint.runtime.kind === "node") expect(endpoint.runtime.maxDuration).toBeLessThanOrEqual(NETLIFY_SYNC_LIMIT_S);
    }
  });
});

describe("netlify.toml", () => {
  const toml = readFileSync("netlify.toml", "utf8");
  const setting = (key: string) => toml.match(new RegExp(`^\\s*${key} = "([^"]*)"`, "m"))?.[1];

  it("builds the edge entries into the directory it hands Netlify's Deno bundler, and publishes no source", () => {
    expect(setting("command")).toBe("npm run build:netlify");
    expect(setting("edge_functions")).toBe(NETLIFY_EDGE_DIR);
    expect(setting("publish")).toBe(PUBLISH_DIR);
    expect(setting("directory")).toBe("netlify/functions");
    // The Functions run on the build's Node.js: 22, for Neon's driver's WebSocket.
    expect(setting("NODE_VERSION")).toBe("22");
  });
});

describe("every entry", () => {
  const entries = [
    ...routes.map((r) => ({ file: vercelEntry(r.path), endpoint: r.endpoint })),
    ...ENDPOINT_LIST.map((endpoint) => ({ file: netlifyEntry(endpoint), endpoint })),
  ];
  it.each(entries.map((e) => [e.file, e.endpoint] as const))(
    "%s serves its function's routes behind its auth, and no other",
    async (file, endpoint) => {
      const exported = ((await import(`../${file}`)) as Entry).default;
      const app = { fetch: typeof exported === "function" ? exported : exported.fetch };
      for (const route of endpoint.routes) {
        const response = await call(app, route.method, route.path, route.method === "POST" ? "{}" : undefined);
        expect(response.status, route.path).toBe(401);
        expect(((await response.json()) as { error: string }).error, route.path).toMatch(REFUSAL[endpoint.auth]);
      }
      for (const other of routes.filter((r) => r.endpoint !== endpoint)) {
        const response = await call(app, other.method, other.path, other.method === "POST" ? "{}" : undefined);
        expect(response.status, other.path).toBe(404);
      }
    },
  );
});

describe("the shared app", () => {
  it("serves exactly the table's routes, all of them through createAllFunctions", () => {
    // A route with a guard is listed once per handler.
    const served = new Set(
      createAllFunctions(deps)
        .routes.filter((r) => r.method !== "ALL")
        .map((r) => `${r.method} ${r.path}`),
    );
    expect(sorted([...served])).toEqual(sorted(routes.map((r) => `${r.method} ${BASE_PATH}/${r.path}`)));
  });

  it("answers an unknown path with the same JSON 404 through createAllFunctions and a single function's app", async () => {
    for (const app of [createAllFunctions(deps), createFunctionApp("enqueue", deps), createFunctionApp("status", deps)]) {
      for (const path of [`${BASE_PATH}/nope`, "/nope", `${BASE_PATH}/search/extra`]) {
        const response = await app.request(path);
        expect(response.status, path).toBe(404);
        expect(response.headers.get("content-type"), path).toMatch(/^application\/json/);
        expect(await response.json()).toEqual({ error: `no such endpoint: GET ${path}` });
        expect(response.headers.get("x-content-type-options"), path).toBe("nosniff");
      }
    }
  });

  it("limits the body once: a 413 through the combined app, and one body limit in its middleware", async () => {
    const app = createAllFunctions(deps);
    const response = await app.request(`${BASE_PATH}/enqueue`, {
      method: "POST",
      body: "x".repeat(MAX_BODY_BYTES + 1),
      headers: { authorization: "Bearer entries-webhook" },
    });
    expect(response.status).toBe(413);
    expect(app.routes.filter((r) => r.handler === BODY_LIMIT)).toHaveLength(1);
    // The routers bring no app-wide middleware of their own: only per-route guards.
    for (const endpoint of ENDPOINT_LIST) {
      const wide = ROUTERS[endpoint.name](deps).routes.filter((r) => r.method === "ALL" && /^\/?\*?$|\/\*$/.test(r.path));
      expect(wide, endpoint.name).toEqual([]);
    }
  });
});

// The documents name the functions by hand; a function added to the table and left out of one of them
// fails here, naming the document and the place (the endpoint recipe, ARCHITECTURE.md §3, step 4).
describe("the documents list what the table deploys", () => {
  const readme = readFileSync("README.md", "utf8");
  const architecture = readFileSync("ARCHITECTURE.md", "utf8");
  const pathsOn = (kind?: "edge" | "node") => sorted(routes.filter((r) => !kind || r.endpoint.runtime.kind === kind).map((r) => r.path));
  /** The backticked names in `text`, in order, once each. */
  const named = (text: string) => [...new Set([...text.matchAll(/`([a-z-]+)`/g)].map((m) => m[1]!))];
  const tableRows = (doc: string, header: string) => {
    const rows = markdownTable(doc, header);
    expect(rows.length, header).toBeGreaterThan(0);
    return rows;
  };

  it("README's and ARCHITECTURE.md §3's endpoint tables name every route", () => {
    for (const [doc, header] of [
      [readme, "| method, path |"],
      [architecture, "| path | caller |"],
    ] as const) {
      const paths = tableRows(doc, header).flatMap(([first]) => named(first!));
      expect(sorted(paths.filter((p) => pathsOn().includes(p))), header).toEqual(pathsOn());
    }
  });

  it("README's runtime table and its \"Any Postgres\" lists put each route on the table's runtime", () => {
    const rows = tableRows(readme, "| function | Vercel | Netlify |");
    const onRuntime = (kind: "edge" | "node") =>
      sorted(rows.filter(([, vercel]) => (kind === "edge" ? /edge/ : /Node\.js/).test(vercel!)).flatMap(([first]) => named(first!)));
    expect(onRuntime("edge"), "README's runtime table, edge").toEqual(pathsOn("edge"));
    expect(onRuntime("node"), "README's runtime table, Node.js").toEqual(pathsOn("node"));
    const anyPostgres = markdownBlock(readme, "The Node.js functions (");
    expect(anyPostgres, "README's Any Postgres").not.toBe("");
    const list = (lead: string) => sorted(named(anyPostgres.slice(anyPostgres.indexOf(lead)).split(")")[0]!));
    expect(list("The Node.js functions ("), "README's Any Postgres, Node.js").toEqual(pathsOn("node"));
    expect(list("The edge functions"), "README's Any Postgres, edge").toEqual(pathsOn("edge"));
  });
});
