// Any Postgres (issue 21): the deployed functions choose their driver from DATABASE_URL. The Node.js
// entries reach a plain PostgreSQL (not Neon) over TCP with node-postgres; an edge function reaches it
// only through a WebSocket proxy (DATABASE_WS_PROXY), and without one refuses by name; a database that
// cannot be reached is named, with its cause, never its password.
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../functions/config";
import { edgeDatabase, fetchHandler } from "../functions/edge";
import { statusRouter } from "../functions/status";
import { nodeDatabase } from "../functions-node/database";
import { communityComment, embeddings } from "../schema";
import type { Connection } from "../scripts/lib/database";
import { servePglite } from "../scripts/lib/pg-server";
import { type FakeOpenAI, startFakeOpenAI } from "../testing/fake-openai";
import { type NeonRelay, startNeonRelay } from "../testing/neon-relay";
import { signedRequest } from "../testing/qstash-token";
import { freshDatabase, testPoolerUrl } from "./support/database";

const SITE = "https://any-postgres.example.com";
const KEY = "sig_any_postgres";
const ADMIN = "any-postgres-admin";
let connection: Connection;
let plainUrl: string;
let stopServed: (() => Promise<unknown>) | undefined;
let api: FakeOpenAI;

beforeAll(async () => {
  [connection, api] = await Promise.all([freshDatabase(), startFakeOpenAI()]);
  if (connection.pglite) {
    const served = await servePglite(connection.pglite, 0);
    plainUrl = served.url;
    stopServed = () => served.stop();
  } else plainUrl = connection.url!;
  Object.assign(process.env, {
    SITE_URL: SITE,
    QSTASH_CURRENT_SIGNING_KEY: KEY,
    QSTASH_NEXT_SIGNING_KEY: "sig_any_postgres_next",
    OPENAI_API_KEY: "test-openai-key",
    OPENAI_BASE_URL: api.url,
    EMBEDDING_QUEUE_STRATEGY: "database",
  });
});
afterAll(async () => {
  await stopServed?.();
  await Promise.all([connection.close(), api.close()]);
});

const statusRequest = () => new Request(`${SITE}/api/embeddings/queue`, { headers: { authorization: `Bearer ${ADMIN}` } });
const env = (databaseUrl: string, extra: Record<string, string> = {}) => ({
  DATABASE_URL: databaseUrl,
  EMBEDDER: "local",
  ADMIN_TOKEN: ADMIN,
  EMBEDDING_QUEUE_STRATEGY: "database",
  ...extra,
});

describe("the driver each runtime chooses", () => {
  it.skipIf(!testPoolerUrl)("(npm run test:pooler) reaches the database through the transaction-mode pooler", () => {
    expect(new URL(plainUrl).port).toBe(new URL(testPoolerUrl!).port);
  });

  it("Neon's driver for a Neon host, node-postgres for any other (Node.js); the edge refuses any other without a proxy", () => {
    const config = loadConfig({});
    const neon = "postgres://u:p@ep-cool-name-123456.eu-central-1.aws.neon.tech/app";
    const supabase = "postgres://postgres.abcdefgh:p@aws-0-eu-central-1.pooler.supabase.com:6543/postgres";
    const opened = [nodeDatabase(neon, config), nodeDatabase(supabase, config), edgeDatabase(neon, config)];
    expect(
      opened.map((o) => ("db" in o ? (o.db as unknown as { session: { constructor: { name: string } } }).session.constructor.name : o)),
    ).toEqual(["NeonSession", "NodePgSession", "NeonSession"]);
    for (const o of opened) if ("close" in o) void o.close();
    const refused = edgeDatabase(supabase, config);
    expect(refused).toEqual({ refused: expect.stringContaining("aws-0-eu-central-1.pooler.supabase.com:6543 is not Neon") });
    expect((refused as { refused: string }).refused).toMatch(/DATABASE_WS_PROXY.*or serve this function from Node\.js/);
  });
});

describe("the Node.js entries on a plain PostgreSQL (not Neon)", () => {
  const entries = [
    { name: "Vercel (Node.js)", load: async () => (await import("../api/embeddings/process-webhook")).default.fetch },
    { name: "Netlify Functions", load: async () => (await import("../netlify/functions/process-webhook")).default },
  ];
  for (const entry of entries) {
    it(`${entry.name}: process-webhook embeds an item over node-postgres`, async () => {
      process.env.DATABASE_URL = plainUrl;
      const handler = (await entry.load()) as (request: Request) => Promise<Response>;
      const [comment] = await connection.db
        .insert(communityComment)
        .values({ body: `Plain Postgres via ${entry.name}` })
        .returning();
      const response = await handler(await signedRequest(`${SITE}/api/embeddings/process-webhook`, { doorbell: "database" }, KEY));
      expect(await response.json()).toMatchObject({ claimed: 1, done: 1, embedded: 1 });
      expect(await connection.db.$count(embeddings, eq(embeddings.contentId, comment!.id))).toBe(1);
    });
  }

  it("names the host and the cause of a refused connection, never the password", async () => {
    const handler = fetchHandler(statusRouter, env("postgres://app:hunter2-secret@127.0.0.1:1/app"), nodeDatabase);
    const response = await handler(statusRequest());
    expect(response.status).toBe(503);
    const { error } = (await response.json()) as { error: string };
    expect(error).toMatch(/^could not connect to the database at 127\.0\.0\.1:1 \(node-postgres over TCP\): .*ECONNREFUSED/);
    expect(error).not.toContain("hunter2");
  });
});

describe("edge functions on a plain PostgreSQL", () => {
  let relay: NeonRelay;
  beforeAll(async () => {
    relay = await startNeonRelay(connection);
  });
  afterAll(async () => {
    await relay.close();
  });

  it("refuse by name without DATABASE_WS_PROXY (500, not a 503 QStash would retry)", async () => {
    const response = await fetchHandler(statusRouter, env(plainUrl))(statusRequest());
    expect(response.status).toBe(500);
    expect(((await response.json()) as { error: string }).error).toMatch(/is not Neon.*set DATABASE_WS_PROXY/);
  });

  it("reach it through the WebSocket proxy DATABASE_WS_PROXY names", async () => {
    const response = await fetchHandler(statusRouter, env(plainUrl, { DATABASE_WS_PROXY: relay.wsProxy }))(statusRequest());
    expect(response.status).toBe(200);
    expect(await response.json()).toHaveProperty("totals.pending");
  });

  it("name the host and the WebSocket's cause when the proxy is down (not [object ErrorEvent])", async () => {
    const url = "postgres://app:hunter2-secret@db.example.internal:5432/app";
    const response = await fetchHandler(statusRouter, env(url, { DATABASE_WS_PROXY: "127.0.0.1:1/v2" }))(statusRequest());
    expect(response.status).toBe(503);
    const { error } = (await response.json()) as { error: string };
    expect(error).toMatch(
      /^could not connect to the database at db\.example\.internal:5432 \(Neon's serverless driver through the WebSocket proxy 127\.0\.0\.1:1\/v2\): \S/,
    );
    expect(error).not.toMatch(/object ErrorEvent|hunter2/);
  });
});
