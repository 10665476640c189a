// The cost ledger against what the API served, the backfill estimate against the ledger, and the budget
// under concurrent runs (README "Cost, budget and pauses"): `n` posts of realistic text (200–1,500
// characters) backfilled and drained through the fake OpenAI server, on BENCH_DATABASE_URL's PostgreSQL
// (PGlite when unset). The cap run: four drains at once against a cap of a third of the backfill's tokens.
import { sql } from "drizzle-orm";
import { loadConfig } from "../functions/config";
import { spendByDay, totalOf } from "../functions/cost/ledger";
import type { Deps } from "../functions/deps";
import { drain } from "../functions/drain";
import { utcDay } from "../functions/lib/utc-day";
import { communityPost, embeddingBudget, embeddingQueue, embeddingSpend, embeddings } from "../schema";
import { createRegistry } from "../schema/registry";
import { backfill } from "../scripts/lib/backfill";
import { estimateBackfill } from "../scripts/lib/estimate";
import { fakeServerEmbedder, startFakeOpenAI } from "../testing/fake-openai";
import { openBenchDatabase } from "./bench-database";
import { realisticText, seededRandom } from "./corpus";

export async function costLedger(n: number) {
  const database = await openBenchDatabase();
  const api = await startFakeOpenAI();
  const registry = createRegistry();
  const random = seededRandom(n);
  const deps = (env: Record<string, string> = {}): Deps => ({
    db: database.db,
    registry,
    config: loadConfig({ OPENAI_API_KEY: "test-openai-key", ...env }),
    embedder: fakeServerEmbedder(api),
  });
  const drainAll = async (d: Deps) => {
    for (let runs = 0; runs < 1000; runs++) if ((await drain(d, { budgetMs: 60_000 })).stoppedBy !== "budget") return;
  };
  const served = () => api.requests.reduce((sum, r) => sum + r.tokens, 0);
  const ledger = async (d: Deps) => totalOf(await spendByDay(database.db, d.config, utcDay(Date.now() - 86_400_000), utcDay(Date.now())));
  try {
    for (let i = 0; i < n; i += 1000) {
      await database.db
        .insert(communityPost)
        .values(Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ title: `Post ${i + j}`, body: realisticText(random) })));
    }
    await database.db.delete(embeddingQueue);
    const plain = deps();
    const entry = registry.byType("post")!;
    const estimate = await estimateBackfill(plain, [entry]);
    await backfill(database.db, entry);
    await drainAll(plain);
    const booked = await ledger(plain);
    const servedFirst = served();

    // The same backfill again under a cap of a third of its tokens, four drains at once.
    await database.db.delete(embeddings);
    await database.db.delete(embeddingSpend);
    await database.db.execute(sql`DELETE FROM embedding_queue`);
    api.requests.length = 0;
    await backfill(database.db, entry);
    const cap = Math.round(booked.tokens / 3);
    const capped = deps({ EMBEDDING_BUDGET_TOKENS: String(cap) });
    await Promise.all(Array.from({ length: 4 }, () => drainAll(capped)));
    const [account] = await database.db.select().from(embeddingBudget);
    return {
      n,
      estimateTokens: estimate.tokens,
      estimateUsd: estimate.usd,
      ledgerTokens: booked.tokens,
      ledgerUsd: booked.usd,
      ledgerRequests: booked.requests,
      servedTokens: servedFirst,
      ledgerVsServedPct: (100 * (booked.tokens - servedFirst)) / servedFirst,
      estimateVsLedgerPct: (100 * (estimate.tokens - booked.tokens)) / booked.tokens,
      cap,
      cappedSpent: account?.tokens ?? 0,
      cappedServed: served(),
      largestRequest: Math.max(...api.requests.map((r) => r.tokens)),
      pendingAfterCap: await database.db.$count(embeddingQueue, sql`status = 'pending'`),
      failedAfterCap: await database.db.$count(embeddingQueue, sql`status = 'failed'`),
    };
  } finally {
    await api.close();
    await database.close();
  }
}
