// The Batch API path against the live one (README "Batch API"): `n` posts of realistic text backfilled
// twice through the fake OpenAI server, once live (the drain) and once through the Batch API path (the
// batches function, the fake finishing each batch between polls), on BENCH_DATABASE_URL's PostgreSQL
// (PGlite when unset). The ledger's money for each, at text-embedding-3-small's list price.

import { spendByDay, totalOf } from "../functions/cost/ledger";
import { drain } from "../functions/drain";
import { utcDay } from "../functions/lib/utc-day";
import { communityPost, embeddingQueue, embeddingSpend, embeddings } from "../schema";
import { createRegistry } from "../schema/registry";
import { backfill } from "../scripts/lib/backfill";
import { startFakeOpenAI } from "../testing/fake-openai";
import { fakeOpenAIDeps, runBatchesToEnd } from "./batch-runs";
import { openBenchDatabase } from "./bench-database";
import { realisticText, seededRandom } from "./corpus";

export async function batchApiBench(n: number) {
  const database = await openBenchDatabase();
  const api = await startFakeOpenAI();
  const registry = createRegistry();
  const random = seededRandom(n);
  const depsWith = (batchApi: boolean) => fakeOpenAIDeps(database.db, api, batchApi);
  // Live: the Batch API off (on, the drain leaves a backfill backlog to it).
  let deps = depsWith(false);
  const ledger = async () =>
    totalOf(await spendByDay(database.db, deps.config, utcDay(Date.now() - 86_400_000), utcDay(Date.now() + 86_400_000)));
  const drainAll = async () => {
    for (let runs = 0; runs < 1000; runs++) if ((await drain(deps, { budgetMs: 60_000 })).stoppedBy !== "budget") return;
  };
  const reset = async () => {
    await database.db.delete(embeddings);
    await database.db.delete(embeddingSpend);
    await database.db.delete(embeddingQueue);
    api.requests.length = 0;
  };
  try {
    for (let i = 0; i < n; i += 1000) {
      await database.db
        .insert(communityPost)
        .values(Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ title: `Post ${i + j}`, body: realisticText(random) })));
    }
    const entry = registry.byType("post")!;

    await reset();
    await backfill(database.db, entry);
    let started = performance.now();
    await drainAll();
    const liveSeconds = (performance.now() - started) / 1000;
    const live = await ledger();
    const liveStored = await database.db.$count(embeddings);

    await reset();
    deps = depsWith(true);
    await backfill(database.db, entry);
    started = performance.now();
    const { runs, batches } = await runBatchesToEnd(deps, api.batch);
    const batchSeconds = (performance.now() - started) / 1000;
    const afterBatches = await ledger();
    // Whatever the batches gave back (none, here) goes live.
    await drainAll();
    const batch = await ledger();
    const batchRows = await spendByDay(database.db, deps.config, utcDay(Date.now() - 86_400_000), utcDay(Date.now() + 86_400_000));
    const batchPath = totalOf(batchRows.filter((r) => r.path === "batch"));
    return {
      n,
      live: { ...live, seconds: liveSeconds, stored: liveStored, requests: live.requests },
      batch: { ...batchPath, seconds: batchSeconds, stored: await database.db.$count(embeddings), batches, runs },
      liveAfterBatches: { tokens: batch.tokens - afterBatches.tokens, usd: batch.usd - afterBatches.usd },
      fakeBatchTokens: api.batch.tokens,
      ratio: batchPath.usd / live.usd,
    };
  } finally {
    await api.close();
    await database.close();
  }
}
