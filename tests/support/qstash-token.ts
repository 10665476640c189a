// Mints Upstash-Signature tokens as QStash does, with any claim overridden, for auth tests.
import { createHash, randomUUID } from "node:crypto";
import { SignJWT } from "jose";

/** `exp: null` leaves the expiry out; `alg` signs with another HMAC. */
export async function qstashToken(
  key: string,
  url: string,
  body: string,
  claims: { exp?: number | null; nbf?: number; iat?: number; iss?: string; alg?: "HS256" | "HS384" | "HS512" } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  const token = new SignJWT({ body: createHash("sha256").update(body).digest("base64url") })
    .setProtectedHeader({ alg: claims.alg ?? "HS256", typ: "JWT" })
    .setIssuer(claims.iss ?? "Upstash")
    .setSubject(url)
    .setIssuedAt(claims.iat ?? now)
    .setNotBefore(claims.nbf ?? now)
    .setJti(`jwt_${randomUUID()}`);
  if (claims.exp !== null) token.setExpirationTime(claims.exp ?? now + 300);
  return token.sign(new TextEncoder().encode(key));
}
