// Ledgers count by UTC day, as QStash's daily limit and OpenAI's usage do.

/** The UTC day of `now`, as `YYYY-MM-DD`. */
export const utcDay = (now: number) => new Date(now).toISOString().slice(0, 10);
