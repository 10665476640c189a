// When to try an embedding request again. The openai SDK retries by itself, but it sleeps on the wall
// clock for as long as `retry-after`/`retry-after-ms` ask, with no upper bound (openai-node
// src/client.ts, retryRequest), and its timeout is fixed per client: a run could outlive its platform's
// limit. So the SDK's retries are off (maxRetries 0) and this decides, within the run's budget.

/** The longest a server's retry-after is honoured; asked for more, the run gives the work back instead. */
export const MAX_RETRY_AFTER_MS = 20_000;
/** An attempt with less time than this left is not started. */
export const MIN_ATTEMPT_MS = 100;

/** The wait a failed answer asks for (retry-after-ms, then retry-after in seconds or as a date), if any. */
export function retryAfterMs(headers: Headers | undefined, now: number): number | undefined {
  const ms = Number.parseFloat(headers?.get("retry-after-ms") ?? "");
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers?.get("retry-after");
  if (!value) return undefined;
  const seconds = Number.parseFloat(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Exponential back-off with jitter when the server names no wait: 0.5 s, 1 s, 2 s, … at most 8 s. */
export const backoffMs = (attempt: number) => Math.min(500 * 2 ** attempt, 8000) * (1 - Math.random() * 0.25);
