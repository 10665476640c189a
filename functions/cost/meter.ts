// What an embedder calls around each API request (functions/embedders/): reserve the request's estimate
// within the budget before sending it, then book its usage in the ledger and settle the budget, or give
// the reservation back when it failed.
import type { SpendPath } from "../../schema/pipeline-tables.js";
import type { Database } from "../db/database.js";
import type { Meter } from "../embedders/embedder.js";
import type { Clock } from "../lib/budget.js";
import type { Lane } from "../lib/lanes.js";
import { reserveBudget, settleBudget } from "./budget.js";
import { bookSpend } from "./ledger.js";
import { usdOf } from "./prices.js";
import type { CostSettings } from "./settings.js";

/** The meter for one lane's requests to `model` on `path`. */
export function spendMeter(db: Database, config: CostSettings, key: { model: string; lane: Lane; path: SpendPath }, clock: Clock): Meter {
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
