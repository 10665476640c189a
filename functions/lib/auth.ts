// Who may call what: a shared secret for the app and its webhooks, a QStash signature for QStash.
import { Receiver } from "@upstash/qstash";
import type { MiddlewareHandler } from "hono";
import { timingSafeEqual } from "hono/utils/buffer";
import type { Config } from "../config";
import type { AppEnv } from "./create-app";
import { UnauthorizedError } from "./errors";

function presentedSecret(authorization: string | undefined, headerSecret: string | undefined): string | undefined {
  if (headerSecret) return headerSecret;
  const [scheme, value] = authorization?.split(" ", 2) ?? [];
  if (scheme?.toLowerCase() === "bearer") return value;
  // Basic auth, password only, so a browser can open the status page.
  if (scheme?.toLowerCase() === "basic" && value) return atob(value).split(":").slice(1).join(":");
  return undefined;
}

/**
 * Requires `Authorization: Bearer <secret>` (or `x-webhook-secret`), compared in constant time.
 * With `optional`, an unset secret lets everyone in (the search token, for instance).
 */
export function requireSecret(secret: string | undefined, name: string, options: { optional?: boolean } = {}): MiddlewareHandler {
  return async (c, next) => {
    if (!secret) {
      if (options.optional) return next();
      throw new UnauthorizedError(`${name} is not configured on the server`);
    }
    const given = presentedSecret(c.req.header("authorization"), c.req.header("x-webhook-secret"));
    if (!given || !(await timingSafeEqual(given, secret))) throw new UnauthorizedError(`missing or wrong ${name}`);
    await next();
  };
}

/**
 * Verifies `Upstash-Signature` over the raw body before anything is parsed, against the URL QStash
 * was given (SITE_URL + path when set, as a proxy may change the URL the function sees).
 */
export function requireQStashSignature(config: Config): MiddlewareHandler<AppEnv> {
  const { currentSigningKey, nextSigningKey } = config.qstash;
  const receiver = currentSigningKey
    ? new Receiver({ currentSigningKey, nextSigningKey: nextSigningKey ?? currentSigningKey, devMode: false })
    : undefined;
  return async (c, next) => {
    if (!receiver) throw new UnauthorizedError("QSTASH_CURRENT_SIGNING_KEY is not configured on the server");
    const signature = c.req.header("upstash-signature");
    if (!signature) throw new UnauthorizedError("missing Upstash-Signature");
    const body = await c.req.text();
    const seen = new URL(c.req.url);
    const url = config.siteUrl ? config.siteUrl + seen.pathname + seen.search : seen.href;
    const valid = await receiver.verify({ signature, body, url }).catch(() => false);
    if (!valid) throw new UnauthorizedError("invalid Upstash-Signature");
    c.set("rawBody", body);
    c.set("caller", "qstash");
    await next();
  };
}
