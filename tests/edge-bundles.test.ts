// Each edge function's entry (Netlify's), bundled, runs in workerd (miniflare) with no Node compatibility:
// proof that no bundle needs PGlite, pg or a Node built-in. The Node.js functions' code is bundled the
// same way (all-functions), so all of functions/ stays edge-safe wherever it runs.
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "../functions/endpoints";
import { ALL_FUNCTIONS, buildEdgeBundles, EDGE_FUNCTIONS, type EdgeBundle } from "../scripts/build-edge";
import { tempFolder } from "./support/temp-folder";

const bundleDir = tempFolder("edge-bundles");
let bundles: EdgeBundle[];
const workers = new Map<string, Miniflare>();
const env = {
  DATABASE_URL: "postgres://user:pass@ep-example.eu-central-1.aws.neon.tech/app",
  EMBEDDER: "local",
  WEBHOOK_SECRET: "edge-webhook-secret",
  ADMIN_TOKEN: "edge-admin-token",
  SEARCH_TOKEN: "edge-search-token",
  QSTASH_CURRENT_SIGNING_KEY: "sig_edge_current",
  QSTASH_NEXT_SIGNING_KEY: "sig_edge_next",
  SITE_URL: "https://edge.example.com",
};

beforeAll(async () => {
  bundles = await buildEdgeBundles(bundleDir);
  for (const bundle of bundles) {
    workers.set(
      bundle.name,
      new Miniflare({
        modules: [{ type: "ESModule", path: `${bundle.name}.js`, contents: bundle.code }],
        compatibilityDate: "2025-09-01",
        bindings: env,
      }),
    );
  }
}, 120_000);
afterAll(async () => {
  await Promise.all([...workers.values()].map((w) => w.dispose()));
});

const call = (name: string, path: string, init?: { method?: string; body?: string; headers?: Record<string, string> }) =>
  workers.get(name)!.dispatchFetch(`https://edge.example.com/api/embeddings/${path}`, init);

describe("edge bundles in workerd", () => {
  it("are each under 250 KB gzipped", () => {
    const edge = bundles.filter((b) => (EDGE_FUNCTIONS as readonly string[]).includes(b.name));
    expect(edge.map((b) => b.name)).toEqual(EDGE_FUNCTIONS);
    for (const bundle of edge) expect(bundle.gzipBytes, bundle.name).toBeLessThan(250 * 1024);
  });

  it("refuse unsigned QStash calls with 401", async () => {
    // The Node.js functions' code too: all of functions/ would still run on an edge runtime.
    const signed = ROUTES.filter((r) => r.endpoint.auth === "qstash-signature").map((r) => r.path);
    expect(signed.length).toBeGreaterThan(0);
    for (const path of signed) {
      const response = await call(ALL_FUNCTIONS, path, { method: "POST", body: "{}" });
      expect(response.status, path).toBe(401);
      expect(((await response.json()) as { error: string }).error).toMatch(/Upstash-Signature/);
    }
  });

  it("check secrets and validate input before touching the database", async () => {
    expect((await call("enqueue", "enqueue", { method: "POST", body: "{}" })).status).toBe(401);
    const bad = await call("enqueue", "enqueue", {
      method: "POST",
      body: "{oops",
      headers: { authorization: "Bearer edge-webhook-secret" },
    });
    expect(bad.status).toBe(400);
    const unknown = await call("enqueue", "enqueue", {
      method: "POST",
      body: JSON.stringify({ type: "INSERT", table: "nope", record: {} }),
      headers: { authorization: "Bearer edge-webhook-secret" },
    });
    expect(((await unknown.json()) as { error: string }).error).toMatch(/unknown table "nope"/);
    expect((await call("search", "search", { method: "POST", body: "{}" })).status).toBe(401);
    for (const path of ["queue", "processor", "status"]) expect((await call("status", path)).status).toBe(401);
  });

  it("answer 413 to a body over the limit", async () => {
    const response = await call("enqueue", "enqueue", {
      method: "POST",
      body: "x".repeat(1024 * 1024 + 1),
      headers: { authorization: "Bearer edge-webhook-secret" },
    });
    expect(response.status).toBe(413);
  });
});
