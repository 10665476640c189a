// Peak memory of draining a backlog, as the backlog grows tenfold: batches, not the backlog, in memory.
import { loadConfig } from "../functions/config";
import type { Deps } from "../functions/deps";
import { drain } from "../functions/drain";
import { localEmbedder } from "../functions/embedders/local";
import { communityPost } from "../schema";
import { createRegistry } from "../schema/registry";
import { openPglite } from "../scripts/lib/database";
import { realisticText, seededRandom } from "./corpus";

export async function drainMemory(n: number) {
  const connection = await openPglite();
  await connection.migrate();
  const random = seededRandom(n + 2);
  try {
    for (let i = 0; i < n; i += 1000) {
      await connection.db.insert(communityPost).values(Array.from({ length: Math.min(1000, n - i) }, () => ({ title: "Memory", body: realisticText(random) })));
    }
    const deps: Deps = { db: connection.db, embedder: localEmbedder(1536), registry: createRegistry(), config: loadConfig({ DRAIN_BATCH_SIZE: "500" }) };
    globalThis.gc?.();
    const base = process.memoryUsage();
    let peakHeap = base.heapUsed;
    let peakRss = base.rss;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakHeap = Math.max(peakHeap, m.heapUsed);
      peakRss = Math.max(peakRss, m.rss);
    }, 20);
    while ((await drain(deps, { budgetMs: 600_000 })).remaining > 0);
    clearInterval(sampler);
    const mb = (bytes: number) => bytes / 1024 / 1024;
    return { n, heapGrowthMb: mb(peakHeap - base.heapUsed), rssGrowthMb: mb(peakRss - base.rss), rssBeforeMb: mb(base.rss) };
  } finally {
    await connection.close();
  }
}
