// Upstash-Signature tokens for tests and benchmarks: the emulator's own signing (the one place a QStash
// JWT is minted), with any claim overridden to forge what QStash would never send.
import { type SignatureClaims, signDelivery } from "../scripts/qstash-emulator/sign";

export const qstashToken = (key: string, url: string, body: string, claims: SignatureClaims = {}) =>
  signDelivery(key, url, body, Date.now(), claims);
