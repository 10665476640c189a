// Polls the batches sent to OpenAI's Batch API and stores their answers (ARCHITECTURE.md §14 "Batch
// API") through the same core as live processing (processItems), its vectors handed in by chunk hash:
// an item whose text changed since the batch was sent has chunks the batch never saw, so it is left to
// the live lanes (its row back in line, or dropped for the pending row its edit wrote). Rows the batch
// did not answer (failed lines, an expired, failed or cancelled batch) go back in line the same way.
import { and, asc, eq, inArray, lt, or, sql } from "drizzle-orm";
import { type BatchState, embeddingBatches, embeddingBatchRows } from "../../schema/pipeline-tables.js";
import { type Prepared, processItems, STORE_GROUP } from "../core/process.js";
import { settleBudget } from "../cost/budget.js";
import { bookSpend } from "../cost/ledger.js";
import { usdOf } from "../cost/prices.js";
import { bucketGroups } from "../db/conflicts.js";
import type { Deps } from "../deps.js";
import { type BatchApi, type BatchResults, FINAL_STATUSES } from "../embedders/batch-api.js";
import type { Budget } from "../lib/budget.js";
import { errorMessage, PermanentError } from "../lib/errors.js";
import { BATCH_RETURNED, readGate, returnToPending, settleByOutcome, yieldToLive } from "../queue/index.js";

/** A batch still "preparing" this long after it was made was left by a run that died: its rows go back. */
export const PREPARING_TIMEOUT_MS = 10 * 60_000;

/** `yieldedMs`: how long the store waited for the live lanes (queue/live-first.ts). */
export type BatchPoll = { id: number; status: string; stored: number; returned: number; failed: number; left: number; yieldedMs: number };

type Batch = typeof embeddingBatches.$inferSelect;

/** Every open batch polled; those OpenAI is done with stored, within the run's budget (the rest next time). */
export async function pollBatches(deps: Deps, api: BatchApi, budget: Budget): Promise<BatchPoll[]> {
  const open = await deps.db
    .select()
    .from(embeddingBatches)
    .where(
      or(
        inArray(embeddingBatches.state, ["submitted", "settling"] satisfies BatchState[]),
        and(
          eq(embeddingBatches.state, "preparing"),
          lt(embeddingBatches.createdAt, sql`now() - ${PREPARING_TIMEOUT_MS} * interval '1 millisecond'`),
        ),
      ),
    )
    .orderBy(asc(embeddingBatches.id));
  const polled: BatchPoll[] = [];
  for (const batch of open) {
    if (budget.left() <= 0) break;
    polled.push(await pollOne(deps, api, batch, budget));
  }
  return polled;
}

async function pollOne(deps: Deps, api: BatchApi, batch: Batch, budget: Budget): Promise<BatchPoll> {
  const poll = { id: batch.id, status: batch.providerStatus ?? batch.state, stored: 0, returned: 0, failed: 0, left: 0, yieldedMs: 0 };
  if (batch.state === "preparing" || !batch.providerBatchId) {
    // Never sent (the run died before the batch was created): nothing to wait for.
    await settleBudget(deps.db, batch.budgetPeriod ?? undefined, reservedOf(batch), { tokens: 0, usd: 0 });
    return { ...poll, ...(await storeRows(deps, batch, emptyResults(), "the batch was never sent", budget)) };
  }
  const info = await api.retrieve(batch.providerBatchId);
  poll.status = info.status;
  await deps.db
    .update(embeddingBatches)
    .set({ providerStatus: info.status, lastError: info.errors ?? null, updatedAt: sql`now()` })
    .where(eq(embeddingBatches.id, batch.id));
  if (!FINAL_STATUSES.includes(info.status)) return poll;
  const results = await api.results(info);
  if (batch.state === "submitted") await bookOnce(deps, batch, results);
  const why =
    info.status === "completed" ? "no answer for the item's text" : `the batch ${info.status}${info.errors ? ` (${info.errors})` : ""}`;
  return { ...poll, ...(await storeRows(deps, batch, results, why, budget)) };
}

/**
 * Books the answered lines' tokens on the ledger's batch path and settles the budget's reservation, once:
 * the move to "settling" is a compare-and-set, so a second poller books nothing.
 */
async function bookOnce(deps: Deps, batch: Batch, results: BatchResults) {
  const tokens = [...results.answers.values()].reduce((sum, a) => sum + a.tokens, 0);
  const moved = await deps.db
    .update(embeddingBatches)
    .set({ state: "settling", tokens, updatedAt: sql`now()` })
    .where(and(eq(embeddingBatches.id, batch.id), eq(embeddingBatches.state, "submitted")))
    .returning({ id: embeddingBatches.id });
  if (moved.length === 0) return;
  const now = (deps.clock ?? Date).now();
  const answered = results.answers.size;
  if (answered)
    await bookSpend(
      deps.db,
      { model: batch.model, lane: "database", path: "batch" },
      { tokens, requests: answered, inputs: answered },
      now,
    );
  const spent = { tokens, usd: usdOf(deps.config.cost.prices, batch.model, tokens, "batch") };
  await settleBudget(deps.db, batch.budgetPeriod ?? undefined, reservedOf(batch), spent);
}

/**
 * Stores the batch's rows a group at a time (core/process.ts's STORE_GROUP, in lock-bucket order: one
 * short write transaction each), each group settled in the queue and struck off the batch as it goes;
 * once none is left, the batch is settled. Before each group the store gives way to live-lane work
 * (yieldToLive, BENCHMARKS.md §12); rows left when the budget runs out stay the batch's, for the next poll.
 * `why`: the error recorded on rows given back (BATCH_RETURNED first: the live lanes take them, no batch again).
 */
async function storeRows(deps: Deps, batch: Batch, results: BatchResults, why: string, budget: Budget) {
  const error = `${BATCH_RETURNED}${why}`;
  const counts = { stored: 0, returned: 0, failed: 0, left: 0, yieldedMs: 0 };
  // The live lanes' gate: work of a paused lane, which nothing takes meanwhile, is not waited for.
  const gate = await readGate(deps.db, { ...deps.config, batch: undefined }, (deps.clock ?? Date).now());
  // The answers are the batch's model's: the set of that model (serving, or a model switch's shadow) takes them.
  const prepared: Prepared = {
    model: batch.model,
    dimensions: batch.dimensions,
    vectorOf: (hash) => {
      const answer = results.answers.get(hash);
      return answer && Array.from(answer.vector);
    },
  };
  const all = await deps.db.select().from(embeddingBatchRows).where(eq(embeddingBatchRows.batchId, batch.id));
  let left = all.length;
  for (const rows of bucketGroups(
    all.sort((a, b) => a.queueId - b.queueId),
    STORE_GROUP,
  )) {
    // Only a store gives way: rows with no answer go back with no HNSW work to compete with the live lanes.
    if (results.answers.size) counts.yieldedMs += await yieldToLive(deps.db, gate, budget);
    if (budget.left() <= 0) {
      counts.left = left;
      return counts;
    }
    const ids = rows.map((row) => row.queueId);
    try {
      const items = rows.map((row) => ({ contentType: row.contentType, contentId: row.contentId, priority: row.priority }));
      const result = await processItems({ ...deps, prepared }, items);
      // Deferred rows go back in line at once: the live lanes embed them.
      const settled = await settleByOutcome(
        deps.db,
        rows.map((row) => ({ ...row, id: row.queueId })),
        result,
        error,
      );
      counts.failed += settled.failed;
      counts.returned += settled.returned;
      counts.stored += rows.length - settled.failed - settled.returned;
    } catch (error) {
      if (!(error instanceof PermanentError)) {
        // Transient (the database): the rows stay the batch's, stored by the next poll.
        console.warn(`[batches] batch ${batch.id}: ${errorMessage(error)}`);
        counts.left = left;
        return counts;
      }
      await returnToPending(
        deps.db,
        ids.map((id) => ({ id, delayMs: 0, error: `${BATCH_RETURNED}${errorMessage(error)}` })),
      );
      counts.returned += ids.length;
    }
    await deps.db.delete(embeddingBatchRows).where(and(eq(embeddingBatchRows.batchId, batch.id), inArray(embeddingBatchRows.queueId, ids)));
    left -= rows.length;
  }
  await deps.db
    .update(embeddingBatches)
    .set({ state: "settled", settledAt: sql`now()`, updatedAt: sql`now()` })
    .where(eq(embeddingBatches.id, batch.id));
  return counts;
}

const reservedOf = (batch: Batch) => ({ tokens: batch.reservedTokens, usd: batch.reservedUsd });
const emptyResults = (): BatchResults => ({ answers: new Map(), failed: new Map() });

/** Deletes settled batches over 30 days old (maintenance): their rows are long stored or given back. */
export async function pruneBatches(db: Deps["db"]): Promise<number> {
  const deleted = await db
    .delete(embeddingBatches)
    .where(and(eq(embeddingBatches.state, "settled"), lt(embeddingBatches.settledAt, sql`now() - interval '30 days'`)))
    .returning({ id: embeddingBatches.id });
  return deleted.length;
}
