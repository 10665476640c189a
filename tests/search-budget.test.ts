// Search is bounded like every other function (issue 21): the query's embedding, its timeout and its
// retries fit search's budget (SEARCH_BUDGET_MS), which fits under the edge's first-byte limit; an
// embedding API too slow for it gets a clear 503, never the platform's timeout. Time is on a clock the
// test holds: the fake API moves it by the time each answer "takes".
import { beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../functions/config";
import { createApp } from "../functions/http/create-app";
import { RESERVE_MS } from "../functions/lib/budget";
import { searchRouter } from "../functions/search";
import { FakeClock } from "../testing/fake-clock";
import { fakeServerEmbedder } from "../testing/fake-openai";
import { testDeps } from "./support/deps";
import { useDatabaseAndApi } from "./support/fixtures";

/** First-byte limits of the edge runtimes search is served from (README "Deploy"). */
const VERCEL_EDGE_FIRST_BYTE_MS = 25_000;
const NETLIFY_EDGE_FIRST_BYTE_MS = 40_000;
const TOKEN = "search-budget-token";
const t = useDatabaseAndApi();

beforeEach(() => {
  Object.assign(t.api, { latencyMs: 0, chaos: undefined, faults: [] });
});

function searchApp(env: Record<string, string>, clock?: FakeClock) {
  const config = loadConfig({ SEARCH_TOKEN: TOKEN, OPENAI_API_KEY: "test-openai-key", OPENAI_BASE_URL: t.api.url, ...env });
  return createApp(
    searchRouter(testDeps(t.connection.db, { config, embedder: fakeServerEmbedder(t.api, { maxRetries: 4, clock }), clock })),
  );
}

const searchFor = (app: ReturnType<typeof searchApp>, query: string) =>
  app.request("https://search.example.com/api/embeddings/search", {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ query }),
  });

describe("search's time bound", () => {
  it("leaves the default budget, with what follows the embedding, under each edge runtime's first-byte limit", () => {
    const { budgetMs } = loadConfig({}).search;
    for (const limit of [VERCEL_EDGE_FIRST_BYTE_MS, NETLIFY_EDGE_FIRST_BYTE_MS])
      expect(budgetMs + RESERVE_MS).toBeLessThanOrEqual(limit - 5000);
  });

  it("stops retrying a slow, failing API when the budget is spent, and answers 503 saying so", async () => {
    const clock = new FakeClock();
    const start = clock.time;
    // Each answer "takes" 5 s on the test's clock, and fails: a retry must fit in what is left.
    const starts: number[] = [];
    t.api.chaos = () => {
      starts.push(clock.time - start);
      clock.time += 5000;
      return { status: 503 };
    };
    const response = await searchFor(searchApp({}, clock), "slow api");
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({
      retry: true,
      error: expect.stringMatching(/within search's budget \(SEARCH_BUDGET_MS, 15000 ms/),
    });
    // Every try began inside the budget's work (15 s less its reserve of 3 s), and there was no fourth.
    expect(starts.length).toBeGreaterThanOrEqual(2);
    expect(starts.length).toBeLessThanOrEqual(3);
    for (const at of starts) expect(at).toBeLessThan(12_000);
  });

  it("cuts a request to an API that does not answer at the budget (503, not the platform's timeout)", async () => {
    t.api.latencyMs = 120_000;
    const response = await searchFor(searchApp({ SEARCH_BUDGET_MS: "1500" }), "never answered");
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: string }).error).toMatch(/did not answer the query within search's budget.*1500 ms/);
  });

  it("answers as before when the API answers in time", async () => {
    const response = await searchFor(searchApp({}, new FakeClock()), "prompt api");
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ results: [] });
  });
});
