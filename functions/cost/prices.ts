// What an embedding costs: USD per 1M input tokens, per model (README "Cost, budget and pauses").
import type { SpendPath } from "../../schema/pipeline-tables.js";

/**
 * OpenAI's list prices for its embedding models (https://openai.com/api/pricing, as published when this
 * was written: check them), USD per 1M tokens. EMBEDDING_PRICES sets others, or overrides these (a discount, another provider).
 */
export const DEFAULT_PRICES: Record<string, number> = {
  "text-embedding-3-small": 0.02,
  "text-embedding-3-large": 0.13,
  "text-embedding-ada-002": 0.1,
  // The local lexical embedder (functions/embedders/local.ts) runs in the function: it costs nothing.
  "local-lexical-v1": 0,
};

/** OpenAI's Batch API is billed at half the live price. */
export const BATCH_DISCOUNT = 0.5;

/** Parses EMBEDDING_PRICES ("model=0.02,other=0.13"), or throws saying which part is wrong. */
export function parsePrices(text: string | undefined): Record<string, number> {
  const prices = { ...DEFAULT_PRICES };
  for (const part of (text ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const match = /^([^=\s]+)\s*=\s*(\d+(?:\.\d+)?)$/.exec(part);
    if (!match) throw new Error(`"${part}" is not model=USD per 1M tokens (e.g. text-embedding-3-small=0.02)`);
    prices[match[1]!] = Number(match[2]);
  }
  return prices;
}

/** USD per 1M tokens for a model, by path; null when the model has no price (its money is unknown). */
export function pricePerMillion(prices: Record<string, number>, model: string, path: SpendPath = "live"): number | null {
  const price = prices[model];
  if (price === undefined) return null;
  return path === "batch" ? price * BATCH_DISCOUNT : price;
}

/** The dollars `tokens` cost (0 for a model without a price: say so where it is shown). */
export const usdOf = (prices: Record<string, number>, model: string, tokens: number, path: SpendPath = "live") =>
  (tokens * (pricePerMillion(prices, model, path) ?? 0)) / 1_000_000;
