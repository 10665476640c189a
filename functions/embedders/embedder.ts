// What every embedding provider offers, and the request packing they share.
import type { Budget } from "../lib/budget.js";

/**
 * What an embedder calls around each API request, when it is handed one (functions/cost/meter.ts books
 * it in the cost ledger within the budget).
 */
export type Ticket = {
  /** The request was answered: `tokens` as its usage says, for `inputs` texts. */
  settle(usage: { tokens: number; inputs: number }): Promise<void>;
  /** The request failed: nothing was spent. */
  release(): Promise<void>;
};

/** Throws BudgetSpentError (functions/cost/budget.ts) when the request does not fit the lane's share of the budget. */
export type Meter = { reserve(estimatedTokens: number): Promise<Ticket> };

export type Embedder = {
  /** Stored with each vector, so a change of model re-embeds (it is part of the hash). */
  model: string;
  dimensions: number;
  /**
   * Returns one vector per text, in order. Throws TransientError or PermanentError, and OutOfTimeError
   * rather than outlive `budget` (request timeouts, retries and rate-limit waits are cut to it). With a
   * `meter`, each API request reserves its estimate before it is sent and books its usage after
   * (functions/cost/meter.ts); a request the budget refuses throws BudgetSpentError.
   */
  embed(texts: string[], budget?: Budget, meter?: Meter): Promise<number[][]>;
  /** The run's budget this embedder is bound to (withBudget): the core's other stages keep to it too. */
  budget?: Budget;
};

/** The embedder as the processing core sees it during one run: every call bound to the run's budget. */
export const withBudget = (embedder: Embedder, budget: Budget): Embedder => ({
  ...embedder,
  budget,
  embed: (texts, _budget, meter) => embedder.embed(texts, budget, meter),
});

export type BatchLimits = { maxInputs: number; maxTokens: number };

/** OpenAI's per-request limits for the embeddings endpoint. */
export const OPENAI_LIMITS: BatchLimits = { maxInputs: 2048, maxTokens: 300_000 };

/**
 * A tokenizer-free, deliberately high estimate of a text's tokens (about 4 ASCII characters a token,
 * one token for any other character), so that packed requests stay within the provider's limits.
 */
export function estimateTokens(text: string): number {
  let ascii = 0;
  let other = 0;
  for (const char of text) char.charCodeAt(0) < 128 ? ascii++ : other++;
  return Math.ceil(ascii / 3.5) + other;
}

/** Packs inputs, in order, into as few requests as the limits allow; returns index ranges. */
export function packRequests(texts: string[], limits: BatchLimits): { start: number; end: number }[] {
  const requests: { start: number; end: number }[] = [];
  let start = 0;
  let tokens = 0;
  texts.forEach((text, index) => {
    const cost = estimateTokens(text);
    if (index > start && (index - start >= limits.maxInputs || tokens + cost > limits.maxTokens)) {
      requests.push({ start, end: index });
      start = index;
      tokens = 0;
    }
    tokens += cost;
  });
  if (texts.length > start) requests.push({ start, end: texts.length });
  return requests;
}

/**
 * Runs `task` over `items` with at most `limit` in flight, keeping the results in order. After a failure
 * no task starts, and the ones in flight finish before it is thrown: nothing runs (or books its cost,
 * functions/cost/meter.ts) after the caller has moved on.
 */
export async function mapLimited<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await task(items[index]!);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (rejected) throw rejected.reason;
  return results;
}
