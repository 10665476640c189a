// Mints Upstash-Signature tokens as QStash does, with any claim overridden, for auth tests.
import { createHash, randomUUID } from "node:crypto";
import { SignJWT } from "jose";

export async function qstashToken(key: string, url: string, body: string, claims: { exp?: number; nbf?: number; iat?: number; iss?: string } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ body: createHash("sha256").update(body).digest("base64url") })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(claims.iss ?? "Upstash")
    .setSubject(url)
    .setIssuedAt(claims.iat ?? now)
    .setNotBefore(claims.nbf ?? now)
    .setExpirationTime(claims.exp ?? now + 300)
    .setJti(`jwt_${randomUUID()}`)
    .sign(new TextEncoder().encode(key));
}
