// Sustained share of a tokens-per-minute limit, and the share of requests answered 429, while the
// drain works through a backlog that needs more than the limit allows.
import { sql } from "drizzle-orm";
import { loadConfig } from "../functions/config";
import type { Deps } from "../functions/deps";
import { drain } from "../functions/drain";
import { openaiEmbedder } from "../functions/embedders/openai";
import { communityPost, embeddingQueue } from "../schema";
import { createRegistry } from "../schema/registry";
import { openPglite } from "../scripts/lib/database";
import { startFakeOpenAI } from "../testing/fake-openai";
import { realisticText, seededRandom } from "./corpus";

export async function rateLimit(tokensPerMinute = 150_000, seconds = 120, latencyMs = 50) {
  const connection = await openPglite();
  await connection.migrate();
  const api = await startFakeOpenAI({ latencyMs });
  api.tokensPerMinute = tokensPerMinute;
  const random = seededRandom(7);
  try {
    // More work than the limit allows in the time: about 240 tokens an item.
    const items = Math.ceil((((tokensPerMinute / 240) * seconds) / 60) * 1.5);
    for (let i = 0; i < items; i += 1000) {
      await connection.db
        .insert(communityPost)
        .values(Array.from({ length: Math.min(1000, items - i) }, () => ({ title: "Limited", body: realisticText(random) })));
    }
    // The limit is not configured: the embedder learns it from the answers' headers.
    const deps: Deps = {
      db: connection.db,
      registry: createRegistry(),
      config: loadConfig({ DRAIN_BATCH_SIZE: "100" }),
      embedder: openaiEmbedder({
        apiKey: "test-openai-key",
        baseURL: api.url,
        model: "text-embedding-3-small",
        dimensions: 1536,
        maxRetries: 6,
      }),
    };
    const started = Date.now();
    while (Date.now() - started < seconds * 1000) {
      const summary = await drain(deps, { budgetMs: Math.max(100, seconds * 1000 - (Date.now() - started)) });
      if (summary.remaining === 0) break;
    }
    const elapsed = (Date.now() - started) / 1000;
    // The bucket starts full: measure after the first minute's burst is spent, as the steady rate.
    const steadyFrom = started + 30_000;
    const steadyTokens = api.requests.filter((r) => r.at >= steadyFrom).reduce((s, r) => s + r.tokens, 0);
    const steadySeconds = (Date.now() - steadyFrom) / 1000;
    const failed = await connection.db.$count(embeddingQueue, sql`status = 'failed'`);
    const total = api.requests.length + api.rateLimited;
    return {
      tokensPerMinute,
      seconds: elapsed,
      sustainedShare: steadyTokens / ((tokensPerMinute * steadySeconds) / 60),
      share429: api.rateLimited / total,
      requests: total,
      rateLimited: api.rateLimited,
      failedItems: failed,
    };
  } finally {
    await api.close();
    await connection.close();
  }
}
