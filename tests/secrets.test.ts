// With known secret values configured, drive every function through success and failure, and scan
// everything captured — logs, responses, error records — for any of them.

import { Client } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../functions/config";
import { BASE_PATH } from "../functions/endpoints";
import { communityComment, course, embeddingQueue } from "../schema";
import type { Connection } from "../scripts/lib/database";
import { embedderLine } from "../scripts/lib/embedder-line";
import { type LocalStack, startLocalStack } from "../scripts/lib/local-stack";
import { type RunningEmulator, startEmulator } from "../scripts/qstash-emulator/http";
import { type FakeOpenAI, startFakeOpenAI } from "../testing/fake-openai";
import { freshDatabase } from "./support/database";
import { waitFor } from "./support/wait-for";

const SECRETS = {
  QSTASH_TOKEN: "qstash-token-S3CRET-1",
  QSTASH_CURRENT_SIGNING_KEY: "sig-current-S3CRET-2",
  QSTASH_NEXT_SIGNING_KEY: "sig-next-S3CRET-3",
  OPENAI_API_KEY: "sk-openai-S3CRET-4",
  WEBHOOK_SECRET: "webhook-S3CRET-5",
  ADMIN_TOKEN: "admin-S3CRET-6",
  SEARCH_TOKEN: "search-S3CRET-7",
};
const DB_PASSWORD = "db-password-S3CRET-8";
let connection: Connection;
let api: FakeOpenAI;
let emulator: RunningEmulator;
let stack: LocalStack;
const captured: string[] = [];

beforeAll(async () => {
  for (const stream of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, stream).mockImplementation(
      (...args: unknown[]) =>
        void captured.push(
          args.map((a) => (a instanceof Error ? `${a.message} ${a.stack}` : typeof a === "string" ? a : JSON.stringify(a))).join(" "),
        ),
    );
  }
  [connection, api] = await Promise.all([freshDatabase(), startFakeOpenAI()]);
  emulator = await startEmulator({
    token: SECRETS.QSTASH_TOKEN,
    currentSigningKey: SECRETS.QSTASH_CURRENT_SIGNING_KEY,
    nextSigningKey: SECRETS.QSTASH_NEXT_SIGNING_KEY,
    backoff: "fast",
    log: (line) => console.log(line),
  });
  stack = await startLocalStack({
    connection,
    // The embedder is built from this configuration: the fake API refuses the key and echoes it back.
    env: {
      ...SECRETS,
      QSTASH_URL: emulator.url,
      OPENAI_BASE_URL: api.url,
      DATABASE_URL: `postgres://app:${DB_PASSWORD}@db.example.com/app`,
    },
  });
});
afterAll(async () => {
  // Deliveries first, then the stack, while the console is still captured: a doorbell delivered during
  // teardown logs after vitest has closed the file's output otherwise.
  await emulator.close();
  await stack.close();
  await Promise.all([connection.close(), api.close()]);
  vi.restoreAllMocks();
});

describe("secrets", () => {
  it("never appear in a log line, a response or an error record", async () => {
    const responses: string[] = [];
    const call = async (path: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}) => {
      const response = await fetch(`${stack.url}${BASE_PATH}/${path}`, {
        method: init.method ?? "POST",
        body: init.body,
        headers: { "content-type": "application/json", ...init.headers },
      });
      responses.push(`${response.status} ${JSON.stringify([...response.headers])} ${await response.text()}`);
      return response.status;
    };
    const webhook = { authorization: `Bearer ${SECRETS.WEBHOOK_SECRET}` };
    const [c] = await connection.db.insert(course).values({ title: "Secret-free course" }).returning();
    await connection.db.insert(communityComment).values({ body: "Secret-free comment" });

    expect(await call("enqueue", { body: JSON.stringify({ contentType: "course", contentId: c!.id }), headers: webhook })).toBe(202);
    // The API refuses the key: a permanent failure, recorded with the (redacted) upstream message.
    await waitFor(
      async () => (await connection.db.select().from(embeddingQueue)).some((r) => r.status === "failed"),
      5000,
      "the failure record",
    );
    emulator.emulator.faults = { refusePublish: true };
    expect(await call("enqueue", { body: JSON.stringify({ contentType: "course", contentId: c!.id }), headers: webhook })).toBe(202);
    emulator.emulator.faults = {};
    await call("enqueue", { body: "{bad json", headers: webhook });
    await call("enqueue", { body: "{}", headers: { authorization: "Bearer wrong" } });
    await call("search", { body: JSON.stringify({ query: "course" }), headers: { authorization: `Bearer ${SECRETS.SEARCH_TOKEN}` } });
    await call("search", { body: JSON.stringify({ query: "course" }) });
    await new Client({ token: SECRETS.QSTASH_TOKEN, baseUrl: emulator.url, devMode: false, enableTelemetry: false }).publishJSON({
      url: `${stack.url}${BASE_PATH}/drain`,
      body: {},
    });
    await waitFor(() => captured.some((line) => line.includes("/drain →")), 5000, "the drain to run");
    for (const path of ["queue", "processor", "status"]) {
      await call(path, { method: "GET", headers: { authorization: `Bearer ${SECRETS.ADMIN_TOKEN}` } });
      await call(path, { method: "GET" });
    }
    const records = (await connection.db.select().from(embeddingQueue)).map((r) => r.lastError ?? "");
    expect(records.join(" ")).toMatch(/Incorrect API key provided: \[redacted\]/);

    const everything = [...captured, ...responses, ...records].join("\n");
    expect(everything.length).toBeGreaterThan(1000);
    for (const [name, value] of [...Object.entries(SECRETS), ["database password", DB_PASSWORD]]) {
      expect(everything.includes(value!), `${name} leaked`).toBe(false);
    }
  });
});

describe("what npm start and backfill print", () => {
  it("names the embedder without the credentials OPENAI_BASE_URL may carry", () => {
    const line = embedderLine(
      loadConfig({ OPENAI_API_KEY: "k", OPENAI_BASE_URL: "https://proxy-user:proxy-S3CRET-9@llm.example.com/v1?api-key=key-S3CRET-10" }),
    );
    expect(line).toContain("text-embedding-3-small via https://");
    expect(line).toContain("llm.example.com/v1");
    expect(line).not.toMatch(/S3CRET/);
  });
});
