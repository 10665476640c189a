// Paces embedding requests to the provider's tokens-per-minute limit instead of running into 429s.
// The limit is a continuously refilling bucket (as OpenAI's is); its size and level come from the
// configuration or, when the server sends them, from its x-ratelimit-* headers after each answer.
import { OutOfTimeError } from "../lib/errors.js";

export class TokenRateLimiter {
  private limit: number | undefined;
  private available = 0;
  private at = Date.now();
  /** While the limit is unknown, one request goes first to learn it from its answer. */
  private probe: Promise<void> | undefined;
  private endProbe: (() => void) | undefined;

  constructor(tokensPerMinute?: number) {
    if (tokensPerMinute) this.limit = this.available = tokensPerMinute;
  }

  /** Waits until `tokens` may be sent, and takes them from the bucket; OutOfTimeError past `maxWaitMs`. */
  async acquire(tokens: number, maxWaitMs = Infinity): Promise<void> {
    for (;;) {
      this.refill();
      if (this.limit === undefined) {
        if (!this.probe) {
          this.probe = new Promise((resolve) => (this.endProbe = resolve));
          return;
        }
        await this.probe;
        // The probe's answer carried no limit: there is none to keep to.
        if (this.limit === undefined) return;
        continue;
      }
      // A request larger than the whole bucket goes once the bucket is full.
      const needed = Math.min(tokens, this.limit);
      if (this.available >= needed) {
        this.available -= tokens;
        return;
      }
      const waitMs = Math.ceil((needed - this.available) / this.perMs());
      if (waitMs > maxWaitMs)
        throw new OutOfTimeError(`the tokens-per-minute limit leaves no room for this request within the run`, waitMs);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }

  /** Ends the learning request, answered or not; the requests waiting for it go on. */
  settled(): void {
    this.endProbe?.();
    this.endProbe = undefined;
  }

  /** Takes the server's own view of the bucket from an answer's headers. */
  observe(headers: Headers): void {
    const limit = Number(headers.get("x-ratelimit-limit-tokens"));
    const remaining = Number(headers.get("x-ratelimit-remaining-tokens"));
    if (!(limit > 0) || !Number.isFinite(remaining)) return;
    this.refill();
    const first = this.limit === undefined;
    this.limit = limit;
    // Requests still in flight are not in the server's count yet: keep the lower of the two views.
    this.available = first ? remaining : Math.min(this.available, remaining);
  }

  private perMs() {
    return this.limit! / 60_000;
  }

  private refill() {
    const now = Date.now();
    if (this.limit !== undefined) this.available = Math.min(this.limit, this.available + (now - this.at) * this.perMs());
    this.at = now;
  }
}
