// POST /api/embeddings/drain (QStash schedule, the safety net): embeds the database queue in batches
// within a time budget, then, while work remains, publishes one more drain call to itself. A lane's
// doorbell (process-webhook) runs the same loop over that lane's rows.
import * as v from "valibot";
import { processItems } from "./core/process.js";
import { BudgetSpentError } from "./cost/budget.js";
import { spendMeter } from "./cost/meter.js";
import { recordRun } from "./db/job-runs.js";
import type { Deps } from "./deps.js";
import { nextBatchSize, type Pace } from "./drain/batch-size.js";
import { withBudget } from "./embedders/embedder.js";
import { requireQStashSignature } from "./http/auth.js";
import { createRouter, type Router, Status } from "./http/create-app.js";
import { startRun } from "./lib/budget.js";
import { errorMessage, OutOfTimeError, PermanentError, TransientError } from "./lib/errors.js";
import { parseBody } from "./lib/validate.js";
import { deduplicationId } from "./qstash/deduplication-id.js";
import { doorbellAfter, FALLBACK_LANE } from "./qstash/doorbells.js";
import { DRAIN_CHAIN, LANE_PRIORITIES, type Lane } from "./qstash/lanes.js";
import type { Message } from "./qstash/publisher.js";
import { bookPublish, deliveryBooked } from "./qstash/spend-ledger.js";
import {
  backoffMs,
  type Claimed,
  claimBatch,
  freeLanes,
  type Gate,
  holdLanes,
  LIVE_MAX_PRIORITY,
  LIVE_RANGE,
  MAX_ATTEMPTS,
  OPEN_GATE,
  readGate,
  readyCount,
  releaseLane,
  returnToPending,
  settleByOutcome,
  settleFailed,
  unclaim,
  yieldToLive,
} from "./queue/index.js";

/** How often a run that found its lane empty looks again while it lingers. */
const LINGER_POLL_MS = 100;

const DrainRequestSchema = v.object({
  budgetMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(800_000))),
  /** The first batch's size, from the previous run of the chain. */
  batchSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000))),
});

export type DrainSummary = {
  batches: number;
  claimed: number;
  done: number;
  failed: number;
  retried: number;
  embedded: number;
  remaining: number;
  chained: boolean;
  /** "paused": the embedding budget refused a request (functions/cost/budget.ts); the batch went back unclaimed. */
  stoppedBy: "empty" | "budget" | "transient-error" | "paused";
  /** The batch a whole run's budget holds at this run's slowest rate (half the batch it ran out on). */
  nextBatchSize?: number;
  /** How long its writes of backfill batches waited for the live lanes (queue/live-first.ts). */
  yieldedMs: number;
};

export type DrainOptions = {
  budgetMs?: number;
  /** The first batch's size, from the previous run of the chain. */
  batchSize?: number;
  /** The signed delivery's jti (never an unsigned header): it names the successor, so replays of one signed call chain once. */
  signatureId?: string;
  /** Only this lane's rows, for its doorbell (which rings again, rather than calling the drain, when rows remain). */
  lane?: Lane;
};

/**
 * A lane's run, once its lane is empty, waits up to LANE_LINGER_MS (within its budget) for more rows
 * before letting the lane go: a burst's rows then join the run under way instead of ringing anew.
 */
async function lingerForRows(deps: Deps, range: { min: number; max: number }, gate: Gate, left: () => number): Promise<boolean> {
  const clock = deps.clock ?? { sleep: (ms: number) => new Promise((r) => setTimeout(r, ms)) };
  for (let waited = 0; waited < deps.config.process.lingerMs && left() > LINGER_POLL_MS; waited += LINGER_POLL_MS) {
    await clock.sleep(LINGER_POLL_MS);
    if ((await readyCount(deps.db, range, gate)) > 0) return true;
  }
  return false;
}

/** One drain run: claims batches, processes and settles them, and chains itself while a backlog remains. */
export async function drain(deps: Deps, options: DrainOptions = {}): Promise<DrainSummary> {
  const range = options.lane && LANE_PRIORITIES[options.lane];
  const budgetMs = options.budgetMs ?? deps.config.drain.budgetMs;
  const { work, workMs } = startRun(budgetMs, deps.clock);
  const clock = work.clock;
  const started = clock.now();
  const maxSize = deps.config.drain.batchSize;
  const embedder = withBudget(deps.embedder, work);
  // Every request is booked in the cost ledger by lane, within the budget (functions/cost/).
  const meter = (lane: Lane, model: string) => spendMeter(deps.db, deps.config, { model, lane, path: "live" }, clock);
  let gate = OPEN_GATE;
  const summary: DrainSummary = {
    batches: 0,
    claimed: 0,
    done: 0,
    failed: 0,
    retried: 0,
    embedded: 0,
    remaining: 0,
    chained: false,
    stoppedBy: "budget",
    yieldedMs: 0,
  };
  let pace: Pace | undefined;
  // A lane's run holds its lane while it serves (functions/queue/lane-state.ts): changes meanwhile ring nothing.
  if (options.lane) await holdLanes(deps.db, [{ lane: options.lane, leaseMs: budgetMs + 10_000 }], "serving");
  // A drain takes every lane's ready rows: the lanes' fallback call is answered, and a change from now
  // on may ring the next one.
  else await freeLanes(deps.db, [FALLBACK_LANE]);
  let released = false;
  // A batch is never larger than the time left holds at the slowest rate so far.
  for (;;) {
    const size = nextBatchSize(work.left(), pace, maxSize, options.batchSize);
    if (size === 0) break;
    const batchStarted = clock.now();
    // Paused lanes and types, and lanes past their budget share, are not claimed (functions/queue/gate.ts).
    gate = await readGate(deps.db, deps.config, batchStarted);
    // The lease outlives this run's budget, so only a run that died loses its claim. The drain takes the
    // live lanes' rows first, in a batch of their own: mixed into a backfill's 500 rows, a live change
    // would wait for all of their embedding and writing (BENCHMARKS.md §12, the drain's first load).
    const lease = Math.max(2 * budgetMs, 1000);
    const live = range ? [] : await claimBatch(deps.db, size, lease, LIVE_RANGE, gate);
    const batch = live.length ? live : await claimBatch(deps.db, size, lease, range, gate);
    if (batch.length === 0) {
      // A lane's run serves while rows keep coming, then lets the lane go unless rows came meanwhile.
      if (options.lane && range) {
        if (await lingerForRows(deps, range, gate, () => work.left())) continue;
        if (!(await releaseLane(deps.db, options.lane, range, gate))) continue;
        released = true;
      }
      summary.stoppedBy = "empty";
      break;
    }
    summary.batches++;
    summary.claimed += batch.length;
    try {
      // A batch of the batched lane's rows (a backfill, say) gives way to the live lanes between its write
      // groups (queue/live-first.ts); a batch of live rows never waits.
      const beforeWrite = batch.every((row) => row.priority > LIVE_MAX_PRIORITY)
        ? async () => {
            summary.yieldedMs += await yieldToLive(deps.db, gate, work);
          }
        : undefined;
      const result = await processItems({ ...deps, embedder, meter, beforeWrite }, batch);
      const settled = await settleByOutcome(deps.db, batch, result);
      summary.done += settled.done;
      summary.failed += settled.failed;
      summary.embedded += result.embedded;
    } catch (error) {
      // The budget refused a request: the batch waits, its attempt not counted, until the gate opens.
      if (error instanceof BudgetSpentError) {
        await unclaim(
          deps.db,
          batch.map((row) => row.id),
        );
        summary.claimed -= batch.length;
        summary.stoppedBy = "paused";
        break;
      }
      if (error instanceof PermanentError) {
        await settleFailed(
          deps.db,
          batch.map((row) => ({ id: row.id, error: error.message })),
        );
        summary.failed += batch.length;
        continue;
      }
      // Transient (API down, rate limit past retries, database hiccup): stop this run. The embedding API
      // gets time to recover (back-off); after a database error the rows are claimable again at once.
      // Out of time: back in line at once (or when the API asked), claimable by the next run.
      const outOfTime = error instanceof OutOfTimeError ? { afterMs: error.retryAfterMs ?? 0 } : undefined;
      const message = errorMessage(error);
      const delayMs = (row: Claimed) => outOfTime?.afterMs ?? (error instanceof TransientError ? backoffMs(row.attempts) : 0);
      const exhausted = batch.filter((row) => row.attempts >= MAX_ATTEMPTS);
      await settleFailed(
        deps.db,
        exhausted.map((row) => ({ id: row.id, error: `gave up after ${row.attempts} attempts: ${message}` })),
      );
      await returnToPending(
        deps.db,
        batch.filter((row) => row.attempts < MAX_ATTEMPTS).map((row) => ({ id: row.id, delayMs: delayMs(row), error: message })),
      );
      summary.failed += exhausted.length;
      summary.retried += batch.length - exhausted.length;
      summary.stoppedBy = outOfTime ? "budget" : "transient-error";
      if (outOfTime) summary.nextBatchSize = Math.max(1, Math.floor(batch.length / 2));
      break;
    }
    pace = {
      slowestMsPerItem: Math.max(pace?.slowestMsPerItem ?? 0, (clock.now() - batchStarted) / batch.length),
      largestBatch: Math.max(pace?.largestBatch ?? 0, batch.length),
    };
  }
  if (pace) summary.nextBatchSize ??= Math.max(1, Math.min(maxSize, Math.floor(workMs / pace.slowestMsPerItem)));
  summary.remaining = await readyCount(deps.db, range, gate);
  // One message hands a lane over (or the drain's backlog on); past the day's spend, the schedule takes it.
  const passOn = async () => {
    if (!deps.publisher || !(await bookPublish(deps.db, deps.config, 1, "fallback", clock.now()))) return false;
    const after = options.signatureId ?? started;
    const next: Message = options.lane
      ? doorbellAfter(options.lane, after, summary.nextBatchSize)
      : {
          endpoint: "drain",
          body: { batchSize: summary.nextBatchSize },
          queueName: DRAIN_CHAIN.queueName,
          deduplicationId: deduplicationId("drain-after", after),
        };
    if (options.lane) await holdLanes(deps.db, [{ lane: options.lane, leaseMs: 30_000 }], "ringing");
    const [sent] = await deps.publisher.publish([next]).catch((error) => [{ error: errorMessage(error) }]);
    const chained = !!sent && "messageId" in sent;
    if (!chained) console.warn("[drain] could not chain:", sent && "error" in sent ? sent.error : "no answer");
    return chained;
  };
  if (summary.remaining > 0 && summary.stoppedBy === "budget") summary.chained = await passOn();
  if (options.lane && range && !released && !summary.chained) {
    // Out of budget as the lane emptied: let it go under its lock (§5), or pass on the rows that came
    // meanwhile. After an error, or with no message to spare, the lane is idle: the next change rings.
    const failed = summary.stoppedBy === "transient-error" || summary.stoppedBy === "paused";
    const ready = !failed && !(await releaseLane(deps.db, options.lane, range, gate));
    if (ready) summary.chained = await passOn();
    if (failed || (ready && !summary.chained)) await freeLanes(deps.db, [options.lane]);
  }
  return summary;
}

export function drainRouter(deps: Deps): Router {
  return createRouter().post("/drain", requireQStashSignature(deps.config), deliveryBooked(deps.db, deps.clock), async (c) => {
    const raw = c.get("rawBody");
    const request = raw.trim() ? parseBody(DrainRequestSchema, raw) : {};
    const signatureId = c.get("signature").id;
    const summary = await recordRun(deps.db, "drain", () => drain(deps, { ...request, signatureId }));
    return c.json(summary, Status.ok);
  });
}
