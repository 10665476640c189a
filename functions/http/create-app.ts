// The shared app every function is mounted on (ARCHITECTURE.md §3): security headers, one body limit,
// the same JSON 404 and error answers, whether it hosts one function (its own entry) or all of them (the
// local stack). A function is a router with no app-wide middleware of its own.
import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Deps } from "../deps.js";
import { BASE_PATH } from "../endpoints.js";
import { BadRequestError, ConfigError, errorMessage, PermanentError, TransientError, UnauthorizedError } from "../lib/errors.js";

/** Largest body any function accepts; larger ones get 413 before they are read. */
export const MAX_BODY_BYTES = 1024 * 1024;

export const Status = {
  ok: 200,
  accepted: 202,
  badRequest: 400,
  unauthorized: 401,
  notFound: 404,
  tooLarge: 413,
  tooManyRequests: 429,
  serverError: 500,
  unavailable: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

/**
 * Who is searching: the admin finds every content type, the search token the public ones, and anyone
 * (`anonymous`, with SEARCH_PUBLIC=true) the public ones too, within a rate limit (auth.ts).
 */
export type SearchScope = "admin" | "public" | "anonymous";

/** What a verified signature says of its delivery: its id (the JWT's jti) and when it expires. */
export type SignedDelivery = { id: string; expiresAt: number };

/** `caller` is set once a request's signature is verified: only QStash is told an error's cause. */
export type AppEnv = { Variables: { rawBody: string; caller?: "qstash"; searchScope: SearchScope; signature: SignedDelivery } };

/**
 * Sent with every answer: nothing may frame, sniff, cache or refer from it, and a page may load nothing
 * but its own inline style (the status page has no script).
 */
export const SECURITY_HEADERS = {
  "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Cache-Control": "no-store",
  "Referrer-Policy": "no-referrer",
} as const;

/** A function's routes, relative to BASE_PATH, with only their own middleware (auth, replay guard). */
export type Router = Hono<AppEnv>;
export type RouterFactory = (deps: Deps) => Router;

export const createRouter = (): Router => new Hono<AppEnv>();

const securityHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(name, value);
};

/** The one body limit: larger bodies get 413 before they are read. Exported so a test can count it. */
export const BODY_LIMIT = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: (c) => c.json({ error: `body larger than ${MAX_BODY_BYTES} bytes` }, Status.tooLarge),
});

/** The error, or an error in its cause chain, that a retry can fix. */
function transientCause(error: unknown): TransientError | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (current instanceof TransientError) return current;
  }
  return undefined;
}

/** The shared app with these routers mounted under BASE_PATH. */
export function createApp(...routers: Router[]) {
  const app = new Hono<AppEnv>();
  app.use(securityHeaders);
  app.use(BODY_LIMIT);
  app.notFound((c) => c.json({ error: `no such endpoint: ${c.req.method} ${new URL(c.req.url).pathname}` }, Status.notFound));
  app.onError((error, c) => {
    if (error instanceof BadRequestError) return c.json({ error: error.message }, Status.badRequest);
    if (error instanceof UnauthorizedError) return c.json({ error: error.message }, Status.unauthorized);
    // QStash retries any non-2xx: 503 for what a retry can fix, 500 for the rest. Drizzle wraps a
    // driver's error (a database that cannot be reached) in its own: the cause says what happened.
    const transient = transientCause(error);
    if (transient) return c.json({ error: transient.message, retry: true }, Status.unavailable);
    if (error instanceof PermanentError || error instanceof ConfigError) return c.json({ error: error.message }, Status.serverError);
    // The cause (bounded, never a query's parameters) for the log, and for QStash, whose logs keep the
    // answer where a person sees it; anyone else learns no internals.
    const cause = `${error instanceof Error ? error.name : "error"}: ${errorMessage(error)}`;
    console.error(`[${new URL(c.req.url).pathname}] ${cause}`);
    return c.json({ error: "internal error", ...(c.get("caller") === "qstash" ? { cause } : {}), retry: true }, Status.unavailable);
  });
  for (const router of routers) app.route(BASE_PATH, router);
  return app;
}
