// What an embedder calls around each API request (functions/embedders/): reserve the request's estimate
// within the budget before sending it, then book its usage in the ledger and settle the budget, or give
// the reservation back when it failed.
import type { SpendPath } from "../../schema/pipeline-tables.js";
import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import type { Clock } from "../lib/budget.js";
import type { Lane } from "../qstash/lanes.js";
import { reserveBudget, settleBudget } from "./budget.js";
import { bookSpend } from "./ledger.js";
import { usdOf } from "./prices.js";

export type Ticket = {
  /** The request was answered: `tokens` as its usage says, for `inputs` texts. */
  settle(usage: { tokens: number; inputs: number }): Promise<void>;
  /** The request failed: nothing was spent. */
  release(): Promise<void>;
};

/** Throws BudgetSpentError when the request does not fit the lane's share of the budget. */
export type Meter = { reserve(estimatedTokens: number): Promise<Ticket> };

/** The meter for one lane's requests to `model` on `path`. */
export function spendMeter(db: Database, config: Config, key: { model: string; lane: Lane; path: SpendPath }, clock: Clock): Meter {
  const prices = config.cost.prices;
  return {
    async reserve(estimatedTokens) {
      const now = clock.now();
      const held = { tokens: estimatedTokens, usd: usdOf(prices, key.model, estimatedTokens, key.path) };
      const period = await reserveBudget(db, config, key.lane, held, now);
      return {
        async settle({ tokens, inputs }) {
          await bookSpend(db, key, { tokens, requests: 1, inputs }, clock.now());
          await settleBudget(db, period, held, { tokens, usd: usdOf(prices, key.model, tokens, key.path) });
        },
        release: () => settleBudget(db, period, held, { tokens: 0, usd: 0 }),
      };
    },
  };
}
