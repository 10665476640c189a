// The local stack on a fresh database with the fake OpenAI server, for end-to-end tests over HTTP.
import { Client } from "@upstash/qstash";
import { eq } from "drizzle-orm";
import { BASE_PATH } from "../../functions/endpoints";
import { embeddings } from "../../schema";
import type { Connection } from "../../scripts/lib/database";
import { startLocalStack, type LocalStack, type LocalStackOptions } from "../../scripts/lib/local-stack";
import { freshDatabase } from "./database";
import { fakeServerEmbedder, startFakeOpenAI, type FakeOpenAI } from "./fake-openai";

export type TestStack = LocalStack & {
  connection: Connection;
  api: FakeOpenAI;
  qstash: Client;
  post(endpoint: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Publishes to a function through the emulator, as a QStash schedule would. */
  trigger(endpoint: string, body?: unknown): Promise<void>;
  embeddedChunks(contentId: string): Promise<number>;
  close(): Promise<void>;
};

export async function startTestStack(options: Partial<LocalStackOptions> = {}): Promise<TestStack> {
  const [connection, api] = await Promise.all([options.connection ?? freshDatabase(), startFakeOpenAI()]);
  const stack = await startLocalStack({
    ...options,
    connection,
    env: { WEBHOOK_SECRET: "test-webhook-secret", ADMIN_TOKEN: "test-admin-token", SEARCH_TOKEN: "test-search-token", ...options.env },
    embedder: options.embedder ?? fakeServerEmbedder(api),
    emulator: { backoff: () => 50, ...options.emulator },
  });
  const qstash = new Client({
    token: stack.config.qstash.token!,
    baseUrl: stack.config.qstash.url,
    devMode: false,
    enableTelemetry: false,
  });
  return {
    ...stack,
    connection,
    api,
    qstash,
    post: (endpoint, body, headers = { authorization: "Bearer test-webhook-secret" }) =>
      fetch(`${stack.url}${BASE_PATH}/${endpoint}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    async trigger(endpoint, body = {}) {
      await qstash.publishJSON({ url: `${stack.url}${BASE_PATH}/${endpoint}`, body });
    },
    embeddedChunks: (contentId) => connection.db.$count(embeddings, eq(embeddings.contentId, contentId)),
    async close() {
      await stack.close();
      await Promise.all([connection.close(), api.close()]);
    },
  };
}
