// A database that cannot be reached says where and why, never with what password: a WebSocket's
// failure reaches us as an ErrorEvent, which printed as "[object ErrorEvent]" (issue 21).
import { TransientError } from "../lib/errors.js";

/** host:port of a postgres:// URL; the user name and password are never part of it. */
export function databaseHost(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || "5432"}`;
}

/** Neon's hosts (its pooler's too): the ones its serverless driver's default WebSocket proxy serves. */
export function isNeonHost(url: string): boolean {
  return /(^|\.)neon\.tech$/.test(new URL(url).hostname);
}

/** What a failed connection says: an Error's message and code, or an ErrorEvent's message or error. */
export function connectionCause(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const message = error.message || (error.cause !== undefined ? connectionCause(error.cause) : error.name);
    return typeof code === "string" && !message.includes(code) ? `${message} (${code})` : message;
  }
  if (error && typeof error === "object") {
    const event = error as { message?: unknown; error?: unknown; type?: unknown };
    if (typeof event.message === "string" && event.message) return event.message;
    if (event.error !== undefined) return connectionCause(event.error);
    if (typeof event.type === "string") return `WebSocket ${event.type} event`;
  }
  return String(error);
}

/** The database could not be reached (or refused us): transient, answered 503 with this message. */
export class DatabaseUnreachableError extends TransientError {
  override name = "DatabaseUnreachableError";

  constructor(url: string, cause: unknown, how: string) {
    super(`could not connect to the database at ${databaseHost(url)} (${how}): ${redactUrl(connectionCause(cause), url)}`);
  }
}

/** A driver may echo the connection string; its password must not travel on. */
function redactUrl(text: string, url: string): string {
  const password = decodeURIComponent(new URL(url).password);
  return password.length >= 4 ? text.split(password).join("[redacted]") : text;
}

type ConnectCallback = (error: unknown, client?: unknown, done?: unknown) => void;
type Connectable = { connect: (callback?: ConnectCallback) => unknown };

/**
 * Makes every failed connection of a pg-style pool (node-postgres, Neon's) a DatabaseUnreachableError.
 * pg-pool's own `query` connects through `this.connect(callback)`, so both forms are wrapped.
 */
export function namingHost<P extends Connectable>(pool: P, url: string, how: string): P {
  const connect = pool.connect.bind(pool) as Connectable["connect"];
  const wrap = (error: unknown) => (error instanceof DatabaseUnreachableError ? error : new DatabaseUnreachableError(url, error, how));
  pool.connect = ((callback?: ConnectCallback) => {
    if (callback) return connect((error, client, done) => callback(error ? wrap(error) : error, client, done));
    return (connect() as Promise<unknown>).catch((error: unknown) => {
      throw wrap(error);
    });
  }) as P["connect"];
  return pool;
}
