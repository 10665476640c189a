// Who may call what: a shared secret for the app and its webhooks, a QStash signature for QStash.
import { Receiver } from "@upstash/qstash";
import type { MiddlewareHandler } from "hono";
import { timingSafeEqual } from "hono/utils/buffer";
import type { Config } from "../config.js";
import { decodeBase64Text } from "../lib/base64.js";
import { UnauthorizedError } from "../lib/errors.js";
import type { AppEnv, SearchScope, SignedDelivery } from "./create-app.js";

function presentedSecret(authorization: string | undefined, headerSecret: string | undefined): string | undefined {
  if (headerSecret) return headerSecret;
  const [scheme, value] = authorization?.split(" ", 2) ?? [];
  if (scheme?.toLowerCase() === "bearer") return value;
  // Basic auth, password only, so a browser can open the status page.
  if (scheme?.toLowerCase() === "basic" && value) {
    try {
      return decodeBase64Text(value).split(":").slice(1).join(":");
    } catch {
      return value; // not base64: a wrong secret, refused as one
    }
  }
  return undefined;
}

/** Requires `Authorization: Bearer <secret>` (or `x-webhook-secret`), compared in constant time. */
export function requireSecret(secret: string | undefined, name: string): MiddlewareHandler {
  return async (c, next) => {
    if (!secret) throw new UnauthorizedError(`${name} is not configured on the server`);
    const given = presentedSecret(c.req.header("authorization"), c.req.header("x-webhook-secret"));
    if (!given || !(await timingSafeEqual(given, secret))) throw new UnauthorizedError(`missing or wrong ${name}`);
    await next();
  };
}

/**
 * Search is closed unless opened: `Bearer $SEARCH_TOKEN` searches the public types, `Bearer $ADMIN_TOKEN`
 * every type, and no token only the public types and only with SEARCH_PUBLIC=true. A wrong token is
 * refused even then, so a misconfigured client notices.
 */
export function requireSearchAccess(config: Config): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const given = presentedSecret(c.req.header("authorization"), c.req.header("x-webhook-secret"));
    const matches = async (secret: string | undefined) => !!secret && !!given && (await timingSafeEqual(given, secret));
    let scope: SearchScope;
    if (await matches(config.adminToken)) scope = "admin";
    else if (await matches(config.searchToken)) scope = "public";
    else if (given) throw new UnauthorizedError("wrong SEARCH_TOKEN");
    else if (config.search.public) scope = "anonymous";
    else if (config.searchToken) throw new UnauthorizedError("missing SEARCH_TOKEN: send `Authorization: Bearer <SEARCH_TOKEN>`");
    else
      throw new UnauthorizedError(
        "search is closed: set SEARCH_TOKEN on the server and send it as `Authorization: Bearer <token>`, or set SEARCH_PUBLIC=true to let anyone search the public content types",
      );
    c.set("searchScope", scope);
    await next();
  };
}

/**
 * QStash's clock and the function's differ by some hundreds of milliseconds: without a tolerance a
 * token signed "now" is not yet valid here for one delivery in four. Well under the 5 minutes a token
 * lives, and the replay guard holds a signature for all of them.
 */
const CLOCK_TOLERANCE_SECONDS = 5;

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
    const valid = await receiver.verify({ signature, body, url, clockTolerance: CLOCK_TOLERANCE_SECONDS }).catch(() => false);
    if (!valid) throw new UnauthorizedError("invalid Upstash-Signature");
    c.set("signature", signedClaims(signature));
    c.set("rawBody", body);
    c.set("caller", "qstash");
    await next();
  };
}

/**
 * QStash signs with HS256 and a 5-minute `exp`, and names each token with a `jti`
 * (https://upstash.com/docs/qstash/features/security); the Receiver also takes HS384/HS512 and tokens
 * that never expire, which nobody but a forger would send.
 */
function signedClaims(token: string): SignedDelivery {
  const [header, payload] = token.split(".", 2).map((part) => {
    try {
      return JSON.parse(decodeBase64Text(part));
    } catch {
      return undefined;
    }
  });
  if (header?.alg !== "HS256") throw new UnauthorizedError("Upstash-Signature must be signed with HS256");
  if (typeof payload?.exp !== "number") throw new UnauthorizedError("Upstash-Signature must expire (exp)");
  if (typeof payload.jti !== "string" || !payload.jti) throw new UnauthorizedError("Upstash-Signature has no jti");
  return { id: payload.jti, expiresAt: payload.exp };
}
