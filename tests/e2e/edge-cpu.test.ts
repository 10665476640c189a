// What stays on Netlify's edge must fit its 50 ms of CPU per request ("CPU execution time per request:
// 50 ms", docs.netlify.com/build/edge-functions/limits). Each edge bundle runs in workerd (its own
// process, as the edge runtime is) against the database through Neon's driver; the CPU time the
// workerd process spends (utime + stime from /proc, all its threads, so an upper bound) is read over a
// series of requests and divided by their number. CPU time, unlike wall time, hardly grows on a busy
// machine, and the figures are far under the limit (printed below), so the test cannot flake.
import { execSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/config";
import { processItems } from "../../functions/core/process";
import { localEmbedder } from "../../functions/embedders/local";
import { communityPost } from "../../schema";
import { createRegistry } from "../../schema/registry";
import { buildEdgeBundles } from "../../scripts/build-edge";
import type { Connection } from "../../scripts/lib/database";
import { type NeonRelay, startNeonRelay } from "../../testing/neon-relay";
import { freshDatabase } from "../support/database";
import { tempFolder } from "../support/temp-folder";

const NETLIFY_EDGE_CPU_MS = 50;
const TICK_MS = 1000 / Number(execSync("getconf CLK_TCK").toString().trim());
const bundleDir = tempFolder("edge-cpu");
let connection: Connection;
let relay: NeonRelay;
const workers = new Map<string, { mf: Miniflare; pid: number }>();
const secrets = { WEBHOOK_SECRET: "cpu-webhook-secret", ADMIN_TOKEN: "cpu-admin-token", SEARCH_TOKEN: "cpu-search-token" };

const workerdChildren = () =>
  new Set(
    readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          const stat = readFileSync(`/proc/${p}/stat`, "utf8");
          return stat.includes("(workerd)") && Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === process.pid;
        } catch {
          return false;
        }
      })
      .map(Number),
  );
/** utime + stime of a process, in ms. */
const cpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
};

beforeAll(async () => {
  connection = await freshDatabase();
  relay = await startNeonRelay(connection);
  // Rows to search, embedded with the edge functions' own (local) embedder.
  const posts = await connection.db
    .insert(communityPost)
    .values(
      Array.from({ length: 200 }, (_, i) => ({ title: `Post ${i} about ${i % 2 ? "astronomy and telescopes" : "gardening and soil"}` })),
    )
    .returning();
  const config = loadConfig({});
  await processItems(
    { db: connection.db, registry: createRegistry(), embedder: localEmbedder(config.dimensions, config.model) },
    posts.map((p) => ({ contentType: "post", contentId: p.id })),
  );
  const bundles = await buildEdgeBundles(bundleDir, relay.bundlePrelude);
  for (const bundle of bundles.filter((b) => ["enqueue", "search", "status"].includes(b.name))) {
    const before = workerdChildren();
    const mf = new Miniflare({
      modules: [{ type: "ESModule", path: `${bundle.name}.js`, contents: bundle.code }],
      compatibilityDate: "2025-09-01",
      bindings: {
        DATABASE_URL: relay.databaseUrl,
        DATABASE_WS_PROXY: relay.wsProxy,
        EMBEDDING_QUEUE_STRATEGY: "database",
        EMBEDDER: "local",
        ...secrets,
      },
    });
    await mf.ready;
    const [pid] = [...workerdChildren()].filter((p) => !before.has(p));
    workers.set(bundle.name, { mf, pid: pid! });
  }
});
afterAll(async () => {
  await Promise.all([...workers.values()].map((w) => w.mf.dispose()));
  await relay?.close();
  await connection?.close();
});

/** CPU ms per request, over `count` requests after a warm-up of three. */
async function cpuPerRequest(name: string, request: () => { path: string; init: RequestInit }, count = 20) {
  const { mf, pid } = workers.get(name)!;
  const send = async () => {
    const { path, init } = request();
    const response = await mf.dispatchFetch(`https://edge.example.com/api/embeddings/${path}`, init as never);
    expect(response.status, `${path}: ${await response.clone().text()}`).toBeLessThan(300);
    await response.arrayBuffer();
  };
  for (let i = 0; i < 3; i++) await send();
  const before = cpuMs(pid);
  for (let i = 0; i < count; i++) await send();
  const perRequest = (cpuMs(pid) - before) / count;
  console.log(`[edge CPU] ${name} ${request().path}: ${perRequest.toFixed(1)} ms per request (limit ${NETLIFY_EDGE_CPU_MS} ms)`);
  return perRequest;
}

const json = (body: unknown, token: string) => ({
  method: "POST",
  body: JSON.stringify(body),
  headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
});

describe("edge functions' CPU per request, against Netlify's 50 ms", () => {
  it("finds workerd's process to measure", () => {
    for (const [name, { pid }] of workers) expect(pid, name).toBeGreaterThan(0);
  });

  it("enqueue: one database-webhook change, and a batch of 250 items", async () => {
    const one = () => ({
      path: "enqueue",
      init: json(
        { type: "INSERT", table: "community_post", schema: "public", record: { id: randomUUID(), title: "x" }, old_record: null },
        secrets.WEBHOOK_SECRET,
      ),
    });
    expect(await cpuPerRequest("enqueue", one)).toBeLessThan(NETLIFY_EDGE_CPU_MS);
    const batch = () => ({
      path: "enqueue",
      init: json(
        Array.from({ length: 250 }, () => ({ contentType: "comment", contentId: randomUUID() })),
        secrets.WEBHOOK_SECRET,
      ),
    });
    expect(await cpuPerRequest("enqueue", batch, 10)).toBeLessThan(NETLIFY_EDGE_CPU_MS);
  });

  it("search: a query over the embedded rows", async () => {
    const query = () => ({ path: "search", init: json({ query: "telescopes for astronomy", limit: 10 }, secrets.SEARCH_TOKEN) });
    expect(await cpuPerRequest("search", query)).toBeLessThan(NETLIFY_EDGE_CPU_MS);
  });

  it("status: the HTML page and the queue's JSON", async () => {
    const headers = { authorization: `Bearer ${secrets.ADMIN_TOKEN}` };
    expect(await cpuPerRequest("status", () => ({ path: "status", init: { headers } }))).toBeLessThan(NETLIFY_EDGE_CPU_MS);
    expect(await cpuPerRequest("status", () => ({ path: "queue", init: { headers } }))).toBeLessThan(NETLIFY_EDGE_CPU_MS);
  });
});
