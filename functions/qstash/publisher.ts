// Sends messages to QStash (or our emulator: same API, another base URL) with the official client.
import { Client } from "@upstash/qstash";
import type { Config } from "../config.js";
import type { EndpointPath } from "../endpoints.js";
import { endpointUrl } from "../endpoints.js";
import { errorMessage, redact, TransientError } from "../lib/errors.js";
import { DRAIN_CHAIN } from "./lanes.js";

export type Message = {
  /** Path under BASE_PATH, e.g. "process-webhook". */
  endpoint: EndpointPath;
  body: unknown;
  /** Only [A-Za-z0-9_-]: see deduplication-id.ts. */
  deduplicationId?: string;
  /** Unix milliseconds; delivered no earlier. Not with `queueName`: QStash refuses it on enqueue. */
  deliverAt?: number;
  queueName?: string;
  /** Deliveries sharing the key run at most `parallelism` at once. */
  flowControl?: { key: string; parallelism: number };
  retries?: number;
  /** Upstash-Retry-Delay: milliseconds before a retry, an expression of `retried` (QStash's back-off otherwise). */
  retryDelay?: string;
};

/** What QStash answered for one message of a batch: sent, or refused on its own. */
export type Sent = { messageId: string } | { error: string };

export type Publisher = {
  /** One answer per message, in order. Throws (TransientError) when QStash refuses the whole request. */
  publish(messages: Message[]): Promise<Sent[]>;
  /** Whether QStash answers, for the status endpoint. */
  reachable(): Promise<boolean>;
};

export function qstashPublisher(config: Config): Publisher | undefined {
  const { token, url } = config.qstash;
  if (!token) return undefined;
  const client = new Client({ token, baseUrl: url, devMode: false, enableTelemetry: false });
  const urlOf = (endpoint: EndpointPath) => {
    if (!config.siteUrl) throw new TransientError("SITE_URL is not set, so QStash has no address to deliver to");
    return endpointUrl(config.siteUrl, endpoint);
  };
  const request = (m: Message) => ({
    url: urlOf(m.endpoint),
    body: m.body,
    deduplicationId: m.deduplicationId,
    notBefore: m.deliverAt === undefined ? undefined : Math.ceil(m.deliverAt / 1000),
    retries: m.retries,
    retryDelay: m.retryDelay,
    queueName: m.queueName,
    flowControl: m.flowControl,
  });
  return {
    async publish(messages) {
      const sent: Sent[] = [];
      try {
        // One batch call carries every message, each to its own queue or none; QStash answers each.
        for (let i = 0; i < messages.length; i += 100) {
          const answers = (await client.batchJSON(messages.slice(i, i + 100).map(request))) as unknown as Sent[];
          sent.push(...answers.map((a) => ("error" in a && a.error ? { error: redact(String(a.error), [token]) } : a)));
        }
      } catch (error) {
        throw new TransientError(redact(`QStash publish failed: ${errorMessage(error)}`, [token]));
      }
      return sent;
    },
    async reachable() {
      return client
        .queue({ queueName: DRAIN_CHAIN.queueName })
        .get()
        .then(
          () => true,
          (error) => !/fetch failed|ECONN|network/i.test(String(error)),
        );
    },
  };
}
