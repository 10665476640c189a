// The configuration's cost part, by shape (functions/config.ts fills it): cost/ sits below config.ts,
// which reads its defaults and parses its prices.

export type CostSettings = {
  /**
   * USD per 1M tokens by model (EMBEDDING_PRICES over OpenAI's list prices); a cap on tokens and/or
   * dollars per UTC day or month; ledger days kept.
   */
  cost: {
    prices: Record<string, number>;
    budget: { tokens?: number; usd?: number; period: "day" | "month" };
    retentionDays: number;
  };
};
