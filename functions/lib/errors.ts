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

/** Longest error text stored or logged: a cause chain, never a query's parameters or vectors. */
export const MAX_ERROR_LENGTH = 1000;

/**
 * An error as a person should read it: each cause's class, Postgres code, message and detail, bounded.
 * A failed query's own message holds its SQL and every parameter (a batch's vectors: megabytes), so it
 * is replaced by its cause, the database's answer.
 */
export function errorMessage(error: unknown): string {
  const parts: string[] = [];
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (!(current instanceof Error)) {
      parts.push(String(current).slice(0, MAX_ERROR_LENGTH));
      break;
    }
    // The database's answer first: PGlite's own error also carries the query and its parameters.
    const code = ownPostgresCode(current);
    if (code) {
      parts.push(`${withoutQuotedValues(current.message)} (Postgres ${code}${safeDetail((current as { detail?: unknown }).detail)})`);
    } else if (isQueryError(current)) {
      if (current.cause === undefined) parts.push("database query failed");
    } else {
      parts.push(depth === 0 ? current.message : `${current.name}: ${current.message}`);
    }
    current = current.cause;
  }
  const text = parts.join(" <- ");
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH - 1)}…` : text;
}

/** The Postgres error code (SQLSTATE) anywhere in an error's cause chain (Drizzle wraps the driver's error). */
export function postgresCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    const code = ownPostgresCode(current);
    if (code) return code;
  }
  return undefined;
}

function ownPostgresCode(error: Error): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Drizzle's wrapper of a driver error: its message is "Failed query: <sql> params: <every value>". */
const isQueryError = (error: Error) => error.name === "DrizzleQueryError" || ("params" in error && "query" in error);

/** A detail names the keys involved; a "Failing row contains (…)" detail would carry the row's vector. */
const safeDetail = (detail: unknown) =>
  typeof detail === "string" && detail && !detail.startsWith("Failing row") ? `: ${detail.slice(0, 300)}` : "";

/**
 * A message with every long quoted value left out: a database's "invalid input syntax for type vector:
 * "[…]"" quotes a whole vector, and an API may echo the text it was sent. Names (a constraint, a
 * column) are short and stay. An unclosed double quote (a message cut short) is left out to its end;
 * single quotes only in pairs, as an apostrophe is one.
 */
export function withoutQuotedValues(text: string): string {
  return text.replace(/"[^"]{41,}("|$)/g, '"…$1').replace(/'[^']{41,}'/g, "'…'");
}

/** Replaces every occurrence of the given secrets, so an upstream message that echoes one is safe to show. */
export function redact(text: string, secrets: (string | undefined)[]): string {
  return secrets.reduce<string>((out, secret) => (secret && secret.length >= 4 ? out.split(secret).join("[redacted]") : out), text);
}

/**
 * A run's budget ran out before the work did: the work goes back in line at once, or after
 * `retryAfterMs` (the wait its retry would have had), not after a back-off, and without waiting out its lease.
 */
export class OutOfTimeError extends TransientError {
  override name = "OutOfTimeError";

  constructor(message: string, retryAfterMs?: number) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** Says which variable is wrong and what it should be; start-up stops with it. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
