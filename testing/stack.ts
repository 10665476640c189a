// The local stack with fakes at its network edges (the fake OpenAI server, the QStash emulator), on the
// database it is handed: end-to-end tests (tests/support/stack.ts hands it a fresh one) and benchmarks.
import { Client } from "@upstash/qstash";
import { eq } from "drizzle-orm";
import { BASE_PATH } from "../functions/endpoints";
import { embeddings } from "../schema";
import type { Connection } from "../scripts/lib/database";
import { type LocalStack, type LocalStackOptions, startLocalStack } from "../scripts/lib/local-stack";
import { type FakeOpenAI, fakeServerEmbedder, startFakeOpenAI } from "./fake-openai";

export type FakeStackOptions = Omit<Partial<LocalStackOptions>, "connection"> & { connection: Connection | Promise<Connection> };

export type FakeStack = LocalStack & {
  connection: Connection;
  api: FakeOpenAI;
  qstash: Client;
  post(endpoint: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Publishes to a function through the emulator, as a QStash schedule would. */
  trigger(endpoint: string, body?: unknown): Promise<void>;
  embeddedChunks(contentId: string): Promise<number>;
  close(): Promise<void>;
};

export async function startFakeStack(options: FakeStackOptions): Promise<FakeStack> {
  const [connection, api] = await Promise.all([options.connection, startFakeOpenAI()]);
  const stack = await startLocalStack({
    ...options,
    connection,
    env: { WEBHOOK_SECRET: "test-webhook-secret", ADMIN_TOKEN: "test-admin-token", SEARCH_TOKEN: "test-search-token", ...options.env },
    embedder: options.embedder ?? fakeServerEmbedder(api),
    emulator: { backoff: "fast", ...options.emulator },
  });
  const qstash = new Client({
    token: stack.config.qstash.token!,
    baseUrl: stack.config.qstash.url,
    devMode: false,
    enableTelemetry: false,
  });
  // Any path, not only the table's: tests also call what does not exist.
  const url = (endpoint: string) => `${stack.url}${BASE_PATH}/${endpoint}`;
  return {
    ...stack,
    connection,
    api,
    qstash,
    post: (endpoint, body, headers = { authorization: "Bearer test-webhook-secret" }) =>
      fetch(url(endpoint), {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    async trigger(endpoint, body = {}) {
      await qstash.publishJSON({ url: url(endpoint), body });
    },
    embeddedChunks: (contentId) => connection.db.$count(embeddings, eq(embeddings.contentId, contentId)),
    async close() {
      await stack.close();
      await Promise.all([connection.close(), api.close()]);
    },
  };
}
