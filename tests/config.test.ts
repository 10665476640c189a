import { neonConfig } from "@neondatabase/serverless";
import { sql } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import ws from "ws";
import { loadConfig } from "../functions/config";
import { processItems } from "../functions/core/process";
import { NEEDS_WEBSOCKET } from "../functions/db/neon";
import { fetchHandler, MISSING_EMBEDDER } from "../functions/edge";
import { localEmbedder } from "../functions/embedders/local";
import { ConfigError } from "../functions/lib/errors";
import { searchRouter } from "../functions/search";
import { communityPost, embeddingQueue } from "../schema";
import { HNSW_INDEX } from "../schema/pipeline-tables";
import { BACKGROUND_PRIORITY, createRegistry } from "../schema/registry";
import { openDatabase } from "../scripts/lib/database";
import { startLocalStack } from "../scripts/lib/local-stack";
import { freshDatabase } from "./support/database";

describe("configuration", () => {
  it("has defaults that need no account anywhere", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      strategy: "database",
      provider: "local",
      model: "local-lexical-v1",
      dimensions: 1536,
      databaseUrl: undefined,
    });
  });

  it("chooses QStash and OpenAI when their keys are set", () => {
    const config = loadConfig({
      QSTASH_TOKEN: "t",
      OPENAI_API_KEY: "k",
      EMBEDDING_MODEL: "text-embedding-3-large",
      EMBEDDING_DIMENSIONS: "1536",
    });
    expect(config).toMatchObject({
      strategy: "qstash",
      provider: "openai",
      model: "text-embedding-3-large",
      dimensions: 1536,
      embedderChosen: true,
    });
    expect(loadConfig({ QSTASH_TOKEN: "t", EMBEDDING_QUEUE_STRATEGY: "database" }).strategy).toBe("database");
  });

  it("asks OpenAI itself for base64 and any other server for floats, unless EMBEDDING_ENCODING says", () => {
    const encoding = (env: Record<string, string>) => loadConfig({ OPENAI_API_KEY: "k", ...env }).openai.encoding;
    expect(encoding({})).toBe("base64");
    expect(encoding({ OPENAI_BASE_URL: "https://api.openai.com/v1" })).toBe("base64");
    expect(encoding({ OPENAI_BASE_URL: "http://localhost:11434/v1" })).toBe("float");
    expect(encoding({ OPENAI_BASE_URL: "http://vllm.internal:8000/v1", EMBEDDING_ENCODING: "base64" })).toBe("base64");
    expect(encoding({ EMBEDDING_ENCODING: "float" })).toBe("float");
  });

  it.each([
    [{ EMBEDDING_ENCODING: "binary" }, /EMBEDDING_ENCODING must be float or base64/],
    [{ EMBEDDING_DIMENSIONS: "lots" }, /EMBEDDING_DIMENSIONS must be a whole number between 1 and 1536/],
    [{ EMBEDDING_DIMENSIONS: "3072" }, /EMBEDDING_DIMENSIONS must be at most 1536/],
    [{ EMBEDDING_QUEUE_STRATEGY: "kafka" }, /EMBEDDING_QUEUE_STRATEGY must be qstash or database/],
    [{ DATABASE_URL: "mysql://x" }, /DATABASE_URL must be a postgres:\/\/ URL/],
    [{ SITE_URL: "not a url" }, /SITE_URL must be a URL/],
    [{ QSTASH_URL: "::", OPENAI_BASE_URL: "nope" }, /QSTASH_URL must be a URL.*OPENAI_BASE_URL must be a URL/],
    // Each passed validation once and then broke every delivery.
    [{ EMBEDDING_DIMENSIONS: "512" }, /EMBEDDING_DIMENSIONS must be 1536, the size of the vector column/],
    // A model switch's shadow (issue 24): pgvector indexes halfvec up to 4,000 dimensions.
    [{ EMBEDDING_SHADOW_DIMENSIONS: "5000" }, /EMBEDDING_SHADOW_DIMENSIONS must be at most 4000 \(pgvector indexes halfvec/],
    [{ EMBEDDING_STORAGE: "float16" }, /EMBEDDING_STORAGE must be vector or halfvec/],
    [{ EMBEDDING_ROLLBACK_DAYS: "-1" }, /EMBEDDING_ROLLBACK_DAYS must be a whole number/],
    [
      { EMBEDDING_SHADOW_MODEL: "text-embedding-3-large" },
      /EMBEDDING_SHADOW_MODEL names text-embedding-3-large, but without OPENAI_API_KEY/,
    ],
    [{ OPENAI_BASE_URL: "localhost:3190" }, /OPENAI_BASE_URL must be an http:\/\/ or https:\/\/ URL/],
    [
      { EMBEDDING_MODEL: "text-embedding-3-small" },
      /EMBEDDING_MODEL names text-embedding-3-small, but without OPENAI_API_KEY the local embedder \(local-lexical-v1\)/,
    ],
    [{ EMBEDDER: "openai" }, /EMBEDDER is openai but OPENAI_API_KEY is not set/],
  ])("stops on %o with a message naming the variable", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it("tells a chosen local embedder from one fallen back on, and always names it local-lexical-v1", () => {
    expect(loadConfig({})).toMatchObject({ provider: "local", embedderChosen: false, model: "local-lexical-v1" });
    expect(loadConfig({ EMBEDDER: "local", OPENAI_API_KEY: "k" })).toMatchObject({
      provider: "local",
      embedderChosen: true,
      model: "local-lexical-v1",
    });
  });

  it("never repeats a secret in its error", () => {
    const error = (() => {
      try {
        loadConfig({ DATABASE_URL: "mysql://user:hunter2@x/db" });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.message).not.toContain("hunter2");
  });
});

describe("start-up against the database as it is", () => {
  it("refuses, naming both sizes, when the vector column is not the embedder's size", async () => {
    const connection = await freshDatabase();
    try {
      await connection.db.execute(sql`DROP INDEX ${sql.identifier(HNSW_INDEX)}`);
      await connection.db.execute(sql`ALTER TABLE embeddings ALTER COLUMN embedding TYPE vector(384)`);
      await expect(startLocalStack({ connection, env: {} })).rejects.toThrow(
        /The embeddings column is vector\(384\) but the embedder makes 1536 dimensions/,
      );
    } finally {
      await connection.close();
    }
  });

  it("queues the items of another model at once, behind live traffic", async () => {
    const connection = await freshDatabase();
    try {
      const posts = await connection.db
        .insert(communityPost)
        .values([{ title: "Old vectors one" }, { title: "Old vectors two" }])
        .returning();
      const old = { db: connection.db, registry: createRegistry(), embedder: localEmbedder(1536, "an-older-model") };
      await processItems(
        old,
        posts.map((p) => ({ contentType: "post", contentId: p.id })),
      );
      await connection.db.delete(embeddingQueue);
      // Without a key, the local embedder replaces other vectors only when asked for by name.
      await expect(startLocalStack({ connection, env: {} })).rejects.toThrow(/EMBEDDER=local/);
      const stack = await startLocalStack({ connection, env: { EMBEDDER: "local" } });
      await stack.close();
      expect(stack.reembedding).toBe(2);
      const queued = await connection.db.select().from(embeddingQueue);
      expect(queued.map((q) => [q.contentId, q.status, q.priority]).sort()).toEqual(
        posts.map((p) => [p.id, "pending", BACKGROUND_PRIORITY]).sort(),
      );
    } finally {
      await connection.close();
    }
  });
});

describe("a deployed function", () => {
  const env = { DATABASE_URL: "postgres://user:pass@ep-example.eu-central-1.aws.neon.tech/app", SEARCH_TOKEN: "t" };
  const ask = (handler: (request: Request) => Promise<Response>) =>
    handler(new Request("https://app.example.com/api/embeddings/search", { method: "POST", body: "{}" }));

  it("without an OpenAI key refuses to serve lexical search silently, and says what to set", async () => {
    const response = await ask(fetchHandler(searchRouter, env));
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: MISSING_EMBEDDER });
  });

  // The platforms run Node 22, whose global WebSocket Neon's driver needs; this Node may be 20.
  const nodeWebSocket = ws as unknown as typeof neonConfig.webSocketConstructor;
  afterEach(() => {
    neonConfig.webSocketConstructor = undefined;
  });

  it("serves with EMBEDDER=local set on purpose", async () => {
    neonConfig.webSocketConstructor = nodeWebSocket;
    const response = await ask(fetchHandler(searchRouter, { ...env, EMBEDDER: "local" }));
    expect(response.status).toBe(401); // on to the function, which wants its token
  });

  it("stops on a runtime without a WebSocket (Node.js 20), saying that Node.js 22 is needed, rather than answer 503s", async () => {
    const global = globalThis as { WebSocket?: unknown };
    const native = global.WebSocket;
    delete global.WebSocket;
    try {
      await expect(ask(fetchHandler(searchRouter, { ...env, EMBEDDER: "local" }))).rejects.toThrow(NEEDS_WEBSOCKET);
    } finally {
      if (native) global.WebSocket = native;
    }
  });
});

describe("errors that name the variable", () => {
  it("an unreachable DATABASE_URL is named, without its password", async () => {
    const config = loadConfig({ DATABASE_URL: "postgres://app:db-pass-S3CRET@127.0.0.1:9/app" });
    const failure = await openDatabase(config, "npm start").then(
      () => undefined,
      (error: Error) => error.message,
    );
    expect(failure).toMatch(/^DATABASE_URL: cannot reach postgres:\/\/redacted:redacted@127\.0\.0\.1:9\/app \(.*ECONNREFUSED/);
    expect(failure).not.toContain("S3CRET");
  });
});
