// Sends a backlog of backfill-priority rows to OpenAI's Batch API (ARCHITECTURE.md §14 "Batch API"):
// claims them under a lease longer than the batch's 24-hour window (the live drain takes a `processing`
// row only once its lease has run out), records which rows the batch holds, writes each distinct changed
// chunk once (its custom_id is the chunk's hash: the answer is keyed by what was embedded, so a stale one
// never lands on new text), reserves the estimate within the budget, then uploads and creates the batch.
import { eq, inArray, sql } from "drizzle-orm";
import { embeddingBatches, embeddingBatchRows } from "../../schema/pipeline-tables.js";
import { BACKGROUND_PRIORITY } from "../../schema/registry.js";
import { changedChunks } from "../core/changed-chunks.js";
import { SERVING_TABLE } from "../core/store.js";
import { BudgetSpentError, reserveBudget, settleBudget } from "../cost/budget.js";
import { usdOf } from "../cost/prices.js";
import type { Deps } from "../deps.js";
import { type BatchApi, MAX_BATCH_INPUTS } from "../embedders/batch-api.js";
import { estimateTokens } from "../embedders/embedder.js";
import { errorMessage } from "../lib/errors.js";
import { groupBy, itemKey } from "../lib/item.js";
import { BATCH_RETURNED, type Claimed, claimBatch, readGate, readyCount, unclaim } from "../queue/index.js";
import { readSets, servingEmbedder, shadowWriter } from "../sets/sets.js";

/** The priorities the Batch API takes: backfill and re-embedding (9) and any lower. */
export const BATCH_PRIORITIES = { min: BACKGROUND_PRIORITY, max: 32_767 };

/** OpenAI's window is 24 hours; an hour more lets the last poll find it done before the rows go back. */
export const BATCH_LEASE_MS = 25 * 3_600_000;

/** Rows a batch claims and prepares at a time (`submitBatch`). */
export const CLAIM_STEP = 1_000;

export type Submitted = { batchId: number; rows: number; inputs: number; estimatedTokens: number };

/**
 * One batch of the backfill backlog, when the Batch API is on and the backlog is at least
 * EMBEDDING_BATCH_MIN_ITEMS. While a model switch fills a shadow, the backlog is the shadow's (its
 * rows queued at backfill priority): the batch embeds with the shadow's model, for the shadow's table;
 * otherwise with the serving model. Null when there is nothing to send.
 */
export async function submitBatch(deps: Deps, api: BatchApi, now: number, step = CLAIM_STEP): Promise<Submitted | null> {
  const { db, config } = deps;
  if (!config.batch.enabled) return null;
  const sets = await readSets(db);
  const { embedder, table } = shadowWriter(deps, sets) ?? { embedder: servingEmbedder(deps, sets), table: SERVING_TABLE };
  // The backlog the gate holds for the Batch API is what this takes.
  const gate = { ...(await readGate(db, config, now)), heldForBatchApi: false };
  if ((await readyCount(db, BATCH_PRIORITIES, gate, true, config.batch.minItems)) < config.batch.minItems) return null;
  const maxInputs = Math.min(config.batch.maxInputs, MAX_BATCH_INPUTS);

  const [batch] = await db
    .insert(embeddingBatches)
    .values({
      model: embedder.model,
      dimensions: embedder.dimensions,
      leaseUntil: sql`now() + ${BATCH_LEASE_MS} * interval '1 millisecond'`,
    })
    .returning({ id: embeddingBatches.id });
  const batchId = batch!.id;

  const giveBack = async (rows: Claimed[], error?: string) => {
    const ids = rows.map((row) => row.id);
    if (!ids.length) return;
    await db.delete(embeddingBatchRows).where(inArray(embeddingBatchRows.queueId, ids));
    await unclaim(db, ids, error);
  };
  // Gives back the rows still held (those with nothing to send went back already) and closes the batch.
  const abandon = async (error?: string) => {
    await giveBack(kept);
    await db
      .update(embeddingBatches)
      .set({ state: "settled", lastError: error ?? null, settledAt: sql`now()`, updatedAt: sql`now()` })
      .where(eq(embeddingBatches.id, batchId));
  };

  // The batch is filled a step at a time (CLAIM_STEP rows), each step's claim and its record of what the
  // batch holds committed together (no row is held by no batch) in a short transaction: one statement
  // claiming, and one transaction holding, the batch's 10,000 rows slowed the live lanes' changes beside
  // them (BENCHMARKS.md "Live changes during a Batch API backfill"). A batch left 'preparing' by a run
  // that stopped between two steps gives its rows back (settle.ts).
  // Each distinct changed chunk once, items whole, up to the batch's size. Rows with nothing to send
  // (removals, unchanged text) go to the live lanes, marked so no batch claims them again (else a
  // backlog of them over the threshold would be held from the drain and given back, run after run);
  // they cost no tokens there. Rows past the batch's size wait for the next batch.
  const requests = new Map<string, string>();
  const kept: Claimed[] = [];
  for (let full = false; !full && requests.size < maxInputs; ) {
    const claimed = await db.transaction(async (tx) => {
      const rows = await claimBatch(tx, Math.min(step, maxInputs - requests.size), BATCH_LEASE_MS, BATCH_PRIORITIES, gate, true);
      if (rows.length) await tx.insert(embeddingBatchRows).values(rows.map((row) => ({ batchId, queueId: row.id, ...pickRow(row) })));
      return rows;
    });
    if (claimed.length === 0) break;
    const chunks = await changedChunks({ ...deps, embedder }, claimed, table);
    const byItem = groupBy(chunks, (chunk) => itemKey(chunk));
    const nothingToSend: Claimed[] = [];
    const overflow: Claimed[] = [];
    for (const row of claimed) {
      const own = byItem.get(itemKey(row)) ?? [];
      const fresh = new Set(own.map((c) => c.hash).filter((hash) => !requests.has(hash)));
      if (own.length === 0) nothingToSend.push(row);
      else if (full || requests.size + fresh.size > maxInputs) {
        full = true;
        overflow.push(row);
      } else {
        for (const chunk of own) requests.set(chunk.hash, chunk.text);
        kept.push(row);
      }
    }
    await giveBack(nothingToSend, `${BATCH_RETURNED}nothing to embed for the batch's set`);
    await giveBack(overflow);
  }
  if (requests.size === 0) {
    await abandon();
    return null;
  }

  const estimatedTokens = [...requests.values()].reduce((sum, text) => sum + estimateTokens(text), 0);
  const held = { tokens: estimatedTokens, usd: usdOf(config.cost.prices, embedder.model, estimatedTokens, "batch") };
  let period: string | undefined;
  try {
    period = await reserveBudget(db, config, "database", held, now);
  } catch (error) {
    if (!(error instanceof BudgetSpentError)) throw error;
    await abandon(error.message);
    return null;
  }
  await db
    .update(embeddingBatches)
    .set({ budgetPeriod: period ?? null, reservedTokens: held.tokens, reservedUsd: held.usd })
    .where(eq(embeddingBatches.id, batchId));
  try {
    const sent = await api.submit(
      [...requests].map(([customId, text]) => ({ customId, text })),
      embedder,
    );
    await db
      .update(embeddingBatches)
      .set({
        state: "submitted",
        providerBatchId: sent.batchId,
        inputFileId: sent.inputFileId,
        providerStatus: "validating",
        inputs: requests.size,
        updatedAt: sql`now()`,
      })
      .where(eq(embeddingBatches.id, batchId));
  } catch (error) {
    await settleBudget(db, period, held, { tokens: 0, usd: 0 });
    await abandon(`could not send the batch: ${errorMessage(error)}`);
    throw error;
  }
  return { batchId, rows: kept.length, inputs: requests.size, estimatedTokens };
}

const pickRow = (row: Claimed) => ({ contentType: row.contentType, contentId: row.contentId, priority: row.priority });
