// Signs a delivery exactly as QStash does, so the official Receiver verifies it: an HS256 JWT over
// the signing key string with iss "Upstash", sub = destination URL, body = base64url(sha256(body)).
import { createHash, randomUUID } from "node:crypto";
import { SignJWT } from "jose";

export async function signDelivery(signingKey: string, url: string, body: string, now = Date.now()): Promise<string> {
  const seconds = Math.floor(now / 1000);
  return new SignJWT({ body: createHash("sha256").update(body).digest("base64url") })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer("Upstash")
    .setSubject(url)
    .setIssuedAt(seconds)
    .setNotBefore(seconds)
    .setExpirationTime(seconds + 5 * 60)
    .setJti(`jwt_${randomUUID().replace(/-/g, "")}`)
    .sign(new TextEncoder().encode(signingKey));
}
