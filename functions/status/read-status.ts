// The numbers behind GET queue and processor: read from the tables, never a secret.
import { and, desc, eq, gt, inArray, like, sql } from "drizzle-orm";
import { embeddingQueue, jobRuns } from "../../schema/pipeline-tables.js";
import { publicConfig } from "../config.js";
import { rowsOf } from "../db/database.js";
import type { Deps } from "../deps.js";
import { errorMessage } from "../lib/errors.js";
import { spendToday } from "../qstash/spend-ledger.js";
import { readSets } from "../sets/sets.js";
import { costStatus } from "./cost-status.js";
import { oldestByLane } from "./lane-ages.js";
import { modelSwitchStatus } from "./model-switch.js";
import { queueCounts } from "./queue-counts.js";

/**
 * Rows settled in the last hour, through the partial index embedding_queue_settled_at. The ORDER BY and
 * its (never reached) LIMIT keep the planner on the index: counted plainly, a backlog touched within the
 * hour makes it expect most of the table and scan all of it (600 ms at 1,000,000 rows; BENCHMARKS.md).
 */
const SETTLED_LAST_HOUR = sql`SELECT status FROM embedding_queue WHERE status IN ('done', 'failed') AND updated_at > now() - interval '1 hour'
  ORDER BY updated_at DESC LIMIT 10000000`;

export async function queueStatus(deps: Deps) {
  const { db } = deps;
  // Exact at any size, without reading the queue (queue-counts.ts); the oldest by index probes (lane-ages.ts).
  const depth = await queueCounts(db);
  const oldest = Object.values(await oldestByLane(db, depth, ["pending"])).filter((at): at is number => at !== null);
  const [hour] = await rowsOf<{ done: number; failed: number; embedded: number; now: number }>(
    db.execute(sql`
    WITH settled AS (${SETTLED_LAST_HOUR})
    SELECT extract(epoch FROM now())::float8 * 1000 AS now, (SELECT count(*)::int FROM settled WHERE status = 'done') AS done,
           (SELECT count(*)::int FROM settled WHERE status = 'failed') AS failed,
           (SELECT count(*)::int FROM embeddings WHERE updated_at > now() - interval '1 hour') AS embedded`),
  );
  // Chunks a switch of embedder has yet to re-embed (they are queued behind live traffic); after a
  // model switch (functions/sets/), the serving set's model is the one switched to.
  const serving = (await readSets(db)).serving ?? deps.embedder;
  const [other] = await rowsOf<{ n: number }>(
    db.execute(sql`
    SELECT count(*)::int AS n FROM embeddings WHERE model <> ${serving.model} OR dimensions <> ${serving.dimensions}`),
  );
  // The embedding API failing now, said at once with its cause: the newest API error on a row of the
  // last 15 minutes (classify in embedders/openai.ts starts each with "embedding").
  const [api] = await db
    .select({ error: embeddingQueue.lastError, at: embeddingQueue.updatedAt })
    .from(embeddingQueue)
    .where(
      and(
        inArray(embeddingQueue.status, ["pending", "failed"]),
        like(embeddingQueue.lastError, "embedding %"),
        gt(embeddingQueue.updatedAt, sql`now() - interval '15 minutes'`),
      ),
    )
    .orderBy(desc(embeddingQueue.updatedAt))
    .limit(1);
  const recentErrors = await db
    .select({
      contentType: embeddingQueue.contentType,
      contentId: embeddingQueue.contentId,
      error: embeddingQueue.lastError,
      attempts: embeddingQueue.attempts,
      retryRounds: embeddingQueue.retryRounds,
      source: embeddingQueue.source,
      at: embeddingQueue.updatedAt,
    })
    .from(embeddingQueue)
    .where(eq(embeddingQueue.status, "failed"))
    .orderBy(desc(embeddingQueue.updatedAt))
    .limit(10);
  const totals: Record<string, number> = { pending: 0, processing: 0, done: 0, failed: 0 };
  for (const row of depth) totals[row.status] = (totals[row.status] ?? 0) + row.count;
  return {
    totals,
    byStatusAndPriority: depth,
    oldestPendingSeconds: oldest.length === 0 ? null : Math.max(0, Math.round((hour!.now - Math.min(...oldest)) / 1000)),
    lastHour: { itemsDone: hour?.done ?? 0, itemsFailed: hour?.failed ?? 0, chunksEmbedded: hour?.embedded ?? 0 },
    chunksOfAnotherModel: other?.n ?? 0,
    modelSwitch: await modelSwitchStatus(db, deps, deps.config),
    apiFailing: api ? { error: api.error!, at: api.at } : null,
    recentErrors,
  };
}

export async function processorStatus(deps: Deps) {
  const started = Date.now();
  const database = await deps.db.execute(sql`SELECT 1`).then(
    () => ({ reachable: true, milliseconds: Date.now() - started }),
    (error) => ({ reachable: false, error: errorMessage(error).slice(0, 200) }),
  );
  const qstash = deps.publisher
    ? { configured: true, reachable: await deps.publisher.reachable() }
    : { configured: false, reachable: false };
  const runs = await rowsOf<{ job: string; ok: boolean; summary: unknown; started_at: string; finished_at: string }>(
    deps.db.execute(sql`
    SELECT DISTINCT ON (job) job, ok, summary, started_at, finished_at FROM ${jobRuns} ORDER BY job, finished_at DESC`),
  ).catch(() => []);
  const lastRuns = Object.fromEntries(
    runs.map((r) => [r.job, { ok: r.ok, startedAt: r.started_at, finishedAt: r.finished_at, summary: r.summary }]),
  );
  // The embedder in use is the truth about model and size, whatever built it.
  const config = { ...publicConfig(deps.config), model: deps.embedder.model, dimensions: deps.embedder.dimensions };
  // Today's QStash spend against the plan: past the lanes' share their changes wait for the drain.
  const spend = await spendToday(deps.db, deps.config, (deps.clock ?? Date).now()).catch(() => null);
  const cost = await costStatus(deps, (deps.clock ?? Date).now()).catch(() => null);
  return { config, database, qstash, spend, cost, lastRuns };
}
