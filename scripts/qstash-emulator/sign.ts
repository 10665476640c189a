// Signs a delivery exactly as QStash does, so the official Receiver verifies it: an HS256 JWT over
// the signing key string with iss "Upstash", sub = destination URL, body = base64url(sha256(body)),
// valid for 5 minutes. The one place a QStash JWT is minted: tests forge theirs here too
// (testing/qstash-token.ts), overriding the claims QStash would never send otherwise.
import { createHash, randomUUID } from "node:crypto";
import { SignJWT } from "jose";

/** Claims to set otherwise: `exp: null` leaves the expiry out; `alg` signs with another HMAC. */
export type SignatureClaims = { exp?: number | null; nbf?: number; iat?: number; iss?: string; alg?: "HS256" | "HS384" | "HS512" };

export async function signDelivery(signingKey: string, url: string, body: string, now = Date.now(), claims: SignatureClaims = {}) {
  const seconds = Math.floor(now / 1000);
  const token = new SignJWT({ body: createHash("sha256").update(body).digest("base64url") })
    .setProtectedHeader({ alg: claims.alg ?? "HS256", typ: "JWT" })
    .setIssuer(claims.iss ?? "Upstash")
    .setSubject(url)
    .setIssuedAt(claims.iat ?? seconds)
    .setNotBefore(claims.nbf ?? seconds)
    .setJti(`jwt_${randomUUID().replace(/-/g, "")}`);
  if (claims.exp !== null) token.setExpirationTime(claims.exp ?? seconds + 5 * 60);
  return token.sign(new TextEncoder().encode(signingKey));
}
