// The few error kinds the pipeline tells apart: whether a retry can help decides the answer to QStash.

/** A retry may succeed (rate limit, 5xx, timeout, lost connection): answer 5xx, back off. */
export class TransientError extends Error {
  override name = "TransientError";
  /** How long the failing service asked to be left alone, when it said (retry-after). */
  retryAfterMs?: number;
}

/** A retry cannot help (bad input to the API, a broken registry entry): record as failed. */
export class PermanentError extends Error {
  override name = "PermanentError";
}

/** The request itself is wrong: 400 with what was wrong. */
export class BadRequestError extends Error {
  override name = "BadRequestError";
}

/** A missing or wrong secret or signature: 401. */
export class UnauthorizedError extends Error {
  override name = "UnauthorizedError";
}

export const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Replaces every occurrence of the given secrets, so an upstream message that echoes one is safe to show. */
export function redact(text: string, secrets: (string | undefined)[]): string {
  return secrets.reduce<string>((out, secret) => (secret && secret.length >= 4 ? out.split(secret).join("[redacted]") : out), text);
}

/**
 * A run's budget ran out before the work did: the work goes back in line at once (or when the service
 * asked, `retryAfterMs`), not after a back-off, and without waiting out its lease.
 */
export class OutOfTimeError extends TransientError {
  override name = "OutOfTimeError";

  constructor(message: string, retryAfterMs?: number) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}
