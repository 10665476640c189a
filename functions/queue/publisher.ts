// Sends messages to QStash (or our emulator: same API, another base URL) with the official client.
import { Client } from "@upstash/qstash";
import type { Config } from "../config.js";
import { BASE_PATH } from "../lib/create-app.js";
import { errorMessage, redact, TransientError } from "../lib/errors.js";

export type Message = {
  /** Path under /api/embeddings, e.g. "process-webhook". */
  endpoint: string;
  body: unknown;
  deduplicationId?: string;
  /** Unix milliseconds; delivered no earlier. */
  deliverAt?: number;
  queueName?: string;
  /** Endpoint QStash calls after the last failed retry. */
  failureEndpoint?: string;
  retries?: number;
};

export type Publisher = {
  publish(messages: Message[]): Promise<void>;
  /** Whether QStash answers, for the status endpoint. */
  reachable(): Promise<boolean>;
};

export function qstashPublisher(config: Config): Publisher | undefined {
  const { token, url } = config.qstash;
  if (!token) return undefined;
  const client = new Client({ token, baseUrl: url, devMode: false, enableTelemetry: false });
  const endpointUrl = (endpoint: string) => {
    if (!config.siteUrl) throw new TransientError("SITE_URL is not set, so QStash has no address to deliver to");
    return `${config.siteUrl}${BASE_PATH}/${endpoint}`;
  };
  const request = (m: Message) => ({
    url: endpointUrl(m.endpoint),
    body: m.body,
    deduplicationId: m.deduplicationId,
    notBefore: m.deliverAt === undefined ? undefined : Math.ceil(m.deliverAt / 1000),
    failureCallback: m.failureEndpoint && endpointUrl(m.failureEndpoint),
    retries: m.retries,
    queueName: m.queueName,
  });
  return {
    async publish(messages) {
      if (messages.length === 0) return;
      try {
        // One batch call carries every message, each to its own queue or none.
        for (let i = 0; i < messages.length; i += 100) await client.batchJSON(messages.slice(i, i + 100).map(request));
      } catch (error) {
        throw new TransientError(redact(`QStash publish failed: ${errorMessage(error)}`, [token]));
      }
    },
    async reachable() {
      return client.queue({ queueName: "embeddings" }).get().then(() => true, (error) => !/fetch failed|ECONN|network/i.test(String(error)));
    },
  };
}
