// When QStash tries a failed delivery again: its back-off, or the wait the destination asked for.

/** A back-off: QStash's own, the named fast mode for tests, or milliseconds before retry n (1-based). */
export type Backoff = "qstash" | "fast" | ((retry: number) => number);

const DAY_MS = 86_400_000;

/**
 * "n = how many times this request has been retried; delay = min(86400, e ** (2.5*n)) // in seconds":
 * 12 s, 2 min 28 s, 30 min 8 s, 6 h 7 min, then a day (https://upstash.com/docs/qstash/features/retry).
 */
export const qstashBackoffMs = (retry: number) => Math.min(DAY_MS, Math.exp(2.5 * retry) * 1000);

/**
 * The fast mode, for tests: QStash's delays a thousand times shorter, at most 250 ms (12 ms, 148 ms,
 * 250 ms …), so retries keep their order and a Retry-After stays longer than a short back-off.
 */
const fast = (ms: number) => Math.min(250, ms / 1000);

/** Milliseconds before retry `retry`, or before the retry a destination asked for (`asked`, already capped). */
export function retryDelayMs(backoff: Backoff, retry: number, asked: number | undefined): number {
  if (backoff === "fast") return fast(asked ?? qstashBackoffMs(retry));
  if (asked !== undefined) return asked;
  return backoff === "qstash" ? qstashBackoffMs(retry) : backoff(retry);
}

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration in Go's form ("6m5s", "1.5h", "300ms"), in milliseconds. */
function goDuration(value: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) return undefined;
  let total = 0;
  for (const [, amount, , unit] of value.matchAll(/(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(amount) * GO_UNITS[unit!]!;
  return total;
}

/**
 * The retry delay a failed answer asks for. "Instead of using the default backoff algorithm, you can
 * specify when QStash should retry your message … include one of the following headers in your response:
 * Retry-After, X-RateLimit-Reset, X-RateLimit-Reset-Requests, X-RateLimit-Reset-Tokens. These headers can
 * be set to a value in seconds, the RFC1123 date format, or a duration format (e.g., 6m5s) … you can only
 * delay retries up to … one day. If you specify a value beyond this limit, the backoff algorithm will be
 * applied." (https://upstash.com/docs/qstash/features/retry, "Retry-After Headers").
 */
export function askedRetryMs(headers: Headers, now: number): number | undefined {
  const names = ["retry-after", "x-ratelimit-reset", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"];
  const value = names.map((name) => headers.get(name)?.trim()).find((v) => v);
  if (!value) return undefined;
  let ms: number | undefined;
  if (/^\d+$/.test(value)) ms = Number(value) * 1000;
  else
    ms = goDuration(value) ?? (/GMT$/.test(value) && !Number.isNaN(Date.parse(value)) ? Math.max(0, Date.parse(value) - now) : undefined);
  return ms !== undefined && ms <= DAY_MS ? ms : undefined;
}
