import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../functions/config";

describe("configuration", () => {
  it("has defaults that need no account anywhere", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ strategy: "database", provider: "local", model: "local-lexical-v1", dimensions: 1536, databaseUrl: undefined });
  });

  it("chooses QStash and OpenAI when their keys are set", () => {
    const config = loadConfig({ QSTASH_TOKEN: "t", OPENAI_API_KEY: "k", EMBEDDING_MODEL: "text-embedding-3-large", EMBEDDING_DIMENSIONS: "1024" });
    expect(config).toMatchObject({ strategy: "qstash", provider: "openai", model: "text-embedding-3-large", dimensions: 1024 });
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
    [{ QSTASH_URL: "::" , OPENAI_BASE_URL: "nope" }, /QSTASH_URL must be a URL.*OPENAI_BASE_URL must be a URL/],
  ])("stops on %o with a message naming the variable", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it("never repeats a secret in its error", () => {
    const error = (() => { try { loadConfig({ DATABASE_URL: "mysql://user:hunter2@x/db" }); } catch (e) { return e as Error; } })();
    expect(error?.message).not.toContain("hunter2");
  });
});
