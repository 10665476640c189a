// POST /api/embeddings/drain (QStash schedule, the safety net): embeds the database queue in batches
// within a time budget, then, while work remains, publishes one more drain call to itself. A lane's
// doorbell (process-webhook) runs the same loop over that lane's rows.
import * as v from "valibot";
import { processItems } from "./core/process";
import type { Deps } from "./deps";
import { requireQStashSignature } from "./lib/auth";
import { createApp, Status } from "./lib/create-app";
import { errorMessage, PermanentError, TransientError } from "./lib/errors";
import { parseBody } from "./lib/validate";
import { claimBatch, readyCount } from "./queue/claim";
import { recordRun } from "./queue/job-runs";
import { backoffMs, MAX_ATTEMPTS, returnToPending, settleDone, settleFailed } from "./queue/settle";
import { itemKey } from "./core/item";
import { deduplicationId } from "./queue/deduplication-id";
import { doorbellAfter } from "./queue/doorbells";
import { DRAIN_CHAIN, LANE_PRIORITIES, type Lane } from "./queue/lanes";

const DrainRequestSchema = v.object({ budgetMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(800_000))) });

export type DrainSummary = {
  batches: number; claimed: number; done: number; failed: number; retried: number;
  embedded: number; remaining: number; chained: boolean; stoppedBy: "empty" | "budget" | "transient-error";
};

export type DrainOptions = {
  budgetMs?: number;
  /** The delivery's message id: it names the successor, so a retried run chains once. */
  messageId?: string;
  /** Only this lane's rows, for its doorbell (which rings again, rather than calling the drain, when rows remain). */
  lane?: Lane;
};

/** One drain run: claims batches, processes and settles them, and chains itself while a backlog remains. */
export async function drain(deps: Deps, options: DrainOptions = {}): Promise<DrainSummary> {
  const range = options.lane && LANE_PRIORITIES[options.lane];
  const budgetMs = options.budgetMs ?? deps.config.drain.budgetMs;
  const started = Date.now();
  const summary: DrainSummary = { batches: 0, claimed: 0, done: 0, failed: 0, retried: 0, embedded: 0, remaining: 0, chained: false, stoppedBy: "budget" };
  let slowestBatchMs = 0;
  // Leave room for the slowest batch so far: a batch is never started that cannot finish in time.
  while (Date.now() - started + slowestBatchMs < budgetMs) {
    const batchStarted = Date.now();
    // The lease outlives this run's budget, so only a run that died loses its claim.
    const batch = await claimBatch(deps.db, deps.config.drain.batchSize, Math.max(2 * budgetMs, 1000), range);
    if (batch.length === 0) {
      summary.stoppedBy = "empty";
      break;
    }
    summary.batches++;
    summary.claimed += batch.length;
    try {
      const result = await processItems(deps, batch);
      const failedKeys = new Map(result.failed.map((f) => [itemKey(f), f.error]));
      const failed = batch.filter((row) => failedKeys.has(itemKey(row)));
      await settleFailed(deps.db, failed.map((row) => ({ id: row.id, error: failedKeys.get(itemKey(row))! })));
      await settleDone(deps.db, batch.filter((row) => !failedKeys.has(itemKey(row))).map((row) => row.id));
      summary.done += batch.length - failed.length;
      summary.failed += failed.length;
      summary.embedded += result.embedded;
    } catch (error) {
      if (error instanceof PermanentError) {
        await settleFailed(deps.db, batch.map((row) => ({ id: row.id, error: error.message })));
        summary.failed += batch.length;
        continue;
      }
      // Transient (API down, rate limit past retries, database hiccup): stop this run. The embedding API
      // gets time to recover (back-off); after a database error the rows are claimable again at once.
      const message = errorMessage(error);
      const delayMs = (row: { attempts: number }) => (error instanceof TransientError ? backoffMs(row.attempts) : 0);
      const exhausted = batch.filter((row) => row.attempts >= MAX_ATTEMPTS);
      await settleFailed(deps.db, exhausted.map((row) => ({ id: row.id, error: `gave up after ${row.attempts} attempts: ${message}` })));
      await returnToPending(deps.db, batch.filter((row) => row.attempts < MAX_ATTEMPTS).map((row) => ({ id: row.id, delayMs: delayMs(row), error: message })));
      summary.failed += exhausted.length;
      summary.retried += batch.length - exhausted.length;
      summary.stoppedBy = "transient-error";
      break;
    }
    slowestBatchMs = Math.max(slowestBatchMs, Date.now() - batchStarted);
  }
  summary.remaining = await readyCount(deps.db, range);
  if (summary.remaining > 0 && summary.stoppedBy === "budget" && deps.publisher) {
    const after = options.messageId ?? started;
    const next = options.lane
      ? doorbellAfter(options.lane, after)
      : { endpoint: "drain", body: {}, queueName: DRAIN_CHAIN.queueName, deduplicationId: deduplicationId("drain-after", after) };
    const [sent] = await deps.publisher.publish([next]).catch((error) => [{ error: errorMessage(error) }]);
    summary.chained = !!sent && "messageId" in sent;
    if (!summary.chained) console.warn("[drain] could not chain:", sent && "error" in sent ? sent.error : "no answer");
  }
  return summary;
}

export function createDrainApp(deps: Deps) {
  return createApp().post("/drain", requireQStashSignature(deps.config), async (c) => {
    const raw = c.get("rawBody");
    const request = raw.trim() ? parseBody(DrainRequestSchema, raw) : {};
    const messageId = c.req.header("upstash-message-id");
    const summary = await recordRun(deps.db, "drain", () => drain(deps, { budgetMs: request.budgetMs, messageId }));
    return c.json(summary, Status.ok);
  });
}
