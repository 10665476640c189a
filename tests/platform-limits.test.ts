// The long-running functions, each through its own entry (Vercel's api/ on Node.js, Netlify's
// netlify/functions/) and Neon's driver (over a local relay), answer before their platform stops them,
// even when the embedding API never answers. The runs here take budgets of 1.5 s so the suite stays fast;
// the first test shows that the default budgets leave the same room under each platform's limit.

import { readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../functions/config";
import { communityComment, embeddingQueue, jobRuns } from "../schema";
import type { Connection } from "../scripts/lib/database";
import { type FakeOpenAI, startFakeOpenAI } from "../testing/fake-openai";
import { type NeonRelay, startNeonRelay } from "../testing/neon-relay";
import { signedRequest } from "../testing/qstash-token";
import { freshDatabase } from "./support/database";

type Handler = (request: Request) => Response | Promise<Response>;
const vercelJson = JSON.parse(readFileSync("vercel.json", "utf8")) as { functions: Record<string, { maxDuration: number }> };
/** Netlify Functions: "Synchronous execution limit: 60 seconds", not configurable (docs.netlify.com/build/functions/configuration). */
const NETLIFY_SYNC_LIMIT_MS = 60_000;
const vercelLimitMs = (entry: string) => vercelJson.functions[`api/embeddings/${entry}.ts`]!.maxDuration * 1000;

const SITE = "https://embeddings.example.com";
const KEY = "sig_platform_key";
const BUDGET_MS = 1500;
/** Past the platforms' limits and vitest's timeout: only a run cut by its budget answers. */
const NEVER_MS = 600_000;
let connection: Connection;
let relay: NeonRelay;
let api: FakeOpenAI;
const platforms: { name: string; entry: (fn: string) => Promise<Handler>; limitMs: (fn: string) => number }[] = [
  { name: "Vercel (Node.js)", entry: async (fn) => (await import(`../api/embeddings/${fn}.ts`)).default.fetch, limitMs: vercelLimitMs },
  {
    name: "Netlify Functions",
    entry: async (fn) => (await import(`../netlify/functions/${fn}.ts`)).default,
    limitMs: () => NETLIFY_SYNC_LIMIT_MS,
  },
];

beforeAll(async () => {
  [connection, api] = await Promise.all([freshDatabase(), startFakeOpenAI()]);
  relay = await startNeonRelay(connection);
  // What the platform hands the entries, read once as they load.
  Object.assign(process.env, {
    DATABASE_URL: relay.databaseUrl,
    SITE_URL: SITE,
    QSTASH_CURRENT_SIGNING_KEY: KEY,
    QSTASH_NEXT_SIGNING_KEY: "sig_platform_next",
    OPENAI_API_KEY: "test-openai-key",
    OPENAI_BASE_URL: api.url,
    DRAIN_BUDGET_MS: String(BUDGET_MS),
    PROCESS_BUDGET_MS: String(BUDGET_MS),
    LANE_LINGER_MS: "0",
  });
});
afterAll(async () => {
  await relay.close();
  await Promise.all([connection.close(), api.close()]);
});
beforeEach(async () => {
  api.latencyMs = 0;
  await connection.db.delete(embeddingQueue);
  await connection.db.delete(jobRuns);
});

/** Calls a function as its platform would: past `limitMs` the platform would have stopped it. */
async function callWithin(handler: Handler, path: string, body: unknown, limitMs: number) {
  const request = await signedRequest(`${SITE}/api/embeddings/${path}`, body, KEY);
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${path} ran past the platform's ${limitMs} ms`)), limitMs)),
  );
  try {
    return await Promise.race([handler(request), limit]);
  } finally {
    clearTimeout(timer);
  }
}

describe("the platforms' time limits", () => {
  it("leave every default budget at least 10 s to settle and answer", () => {
    const { drain, process } = loadConfig({});
    for (const fn of ["drain", "process-webhook", "maintenance", "retry-failed"]) {
      for (const limitMs of [vercelLimitMs(fn), NETLIFY_SYNC_LIMIT_MS]) {
        expect(Math.max(drain.budgetMs, process.budgetMs) + 10_000, fn).toBeLessThanOrEqual(limitMs);
      }
    }
  });

  for (const platform of platforms) {
    describe(platform.name, () => {
      it("drain: answers within its budget, not the API's time, and records its run", async () => {
        await connection.db.insert(communityComment).values([{ body: "Platform limit one" }, { body: "Platform limit two" }]);
        api.latencyMs = NEVER_MS;
        const response = await callWithin(await platform.entry("drain"), "drain", {}, platform.limitMs("drain"));
        expect(response.status).toBe(200);
        expect(await response.json()).toMatchObject({ claimed: 2, retried: 2, stoppedBy: "budget" });
        const [run] = await connection.db.select().from(jobRuns).where(eq(jobRuns.job, "drain"));
        expect(run).toMatchObject({ ok: true });
      });

      it("process-webhook: a doorbell's run answers within its budget and puts its rows back", async () => {
        await connection.db.insert(communityComment).values({ body: "Platform delivery" });
        api.latencyMs = NEVER_MS;
        const handler = await platform.entry("process-webhook");
        const response = await callWithin(handler, "process-webhook", { doorbell: "database" }, platform.limitMs("process-webhook"));
        expect(response.status).toBe(200);
        expect(await response.json()).toMatchObject({ claimed: 1, retried: 1, stoppedBy: "budget" });
        api.latencyMs = 0;
        // QStash delivers again until a run embeds the row. A busy machine may spend a whole 1.5 s budget
        // before the API is called, so the redelivery that succeeds is not always the first one.
        let again: Record<string, unknown> = {};
        for (let delivery = 0; delivery < 10 && !again.done; delivery++) {
          const answer = await callWithin(handler, "process-webhook", { doorbell: "database" }, platform.limitMs("process-webhook"));
          again = (await answer.json()) as Record<string, unknown>;
        }
        expect(again).toMatchObject({ claimed: 1, done: 1, embedded: 1 });
      });

      it("maintenance and retry-failed: run and record their runs", async () => {
        for (const fn of ["maintenance", "retry-failed"]) {
          const response = await callWithin(await platform.entry(fn), fn, {}, platform.limitMs(fn));
          expect(response.status, fn).toBe(200);
        }
        const jobs = await connection.db.select({ job: jobRuns.job, ok: jobRuns.ok }).from(jobRuns).orderBy(jobRuns.job);
        expect(jobs).toEqual([
          { job: "maintenance", ok: true },
          { job: "retry-failed", ok: true },
        ]);
      });
    });
  }
});
