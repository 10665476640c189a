// Upstash-Signature tokens for tests and benchmarks: the emulator's own signing (the one place a QStash
// JWT is minted), with any claim overridden to forge what QStash would never send.
import { type SignatureClaims, signDelivery } from "../scripts/qstash-emulator/sign";

export const qstashToken = (key: string, url: string, body: string, claims: SignatureClaims = {}) =>
  signDelivery(key, url, body, Date.now(), claims);

/**
 * A POST as QStash delivers it: `body` (JSON unless already text) signed for `url` with `key`. `claims`
 * forge a token QStash would never send; `headers` add or replace any (a message id, a retry count).
 */
export async function signedRequest(
  url: string,
  body: unknown,
  key: string,
  options: { claims?: SignatureClaims; headers?: Record<string, string> } = {},
): Promise<Request> {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const signature = await qstashToken(key, url, text, options.claims);
  return new Request(url, {
    method: "POST",
    headers: { "content-type": "application/json", "upstash-signature": signature, ...options.headers },
    body: text,
  });
}
