import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { estimateTokens, packRequests } from "../functions/embedders/embedder";
import { openaiEmbedder } from "../functions/embedders/openai";
import { PermanentError, TransientError } from "../functions/lib/errors";
import { checkEmbedderAnswers } from "../scripts/lib/embedder-check";
import { type EncodingSupport, type FakeOpenAI, fakeServerEmbedder, startFakeOpenAI } from "../testing/fake-openai";

let api: FakeOpenAI;
beforeAll(async () => {
  api = await startFakeOpenAI();
});
afterAll(() => api.close());
beforeEach(() => {
  api.requests.length = 0;
});

const embedder = (overrides: Partial<Parameters<typeof openaiEmbedder>[0]> = {}) =>
  openaiEmbedder({ apiKey: "test-openai-key", baseURL: api.url, model: "text-embedding-3-small", dimensions: 1536, ...overrides });

describe("the OpenAI embedder", () => {
  it("embeds 3,000 inputs in the fewest requests the 2,048-input limit allows, in order", async () => {
    const texts = Array.from({ length: 3000 }, (_, i) => `Comment number ${i} about learning.`);
    const vectors = await embedder().embed(texts);
    expect(api.requests.map((r) => r.inputs).sort()).toEqual([2048, 952].sort());
    expect(vectors).toHaveLength(3000);
    const again = await embedder().embed([texts[2999]!]);
    expect(vectors[2999]).toEqual(again[0]);
  });

  it("keeps each request under 300k tokens, with no more requests than that needs", async () => {
    const long = "lorem ipsum dolor sit amet ".repeat(70);
    const texts = Array.from({ length: 1300 }, (_, i) => `${i} ${long}`);
    await embedder().embed(texts);
    const total = texts.reduce((sum, t) => sum + estimateTokens(t), 0);
    expect(api.requests.every((r) => r.tokens <= 300_000)).toBe(true);
    expect(api.requests).toHaveLength(Math.ceil(total / 300_000));
  });

  it("sends dimensions only to models that take them", async () => {
    await embedder({ model: "nomic-embed-text" })
      .embed(["x"])
      .catch(() => undefined);
    expect(api.requests[0]!.dimensions).toBeUndefined();
  });

  it("calls a wrong key a permanent error that does not repeat the key", async () => {
    const error = await embedder({ apiKey: "sk-wrong-secret" })
      .embed(["x"])
      .catch((e) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toContain("401");
    expect(error.message).not.toContain("sk-wrong-secret");
  });

  it("calls a model of another size a permanent error", async () => {
    const error = await embedder({ model: "nomic-embed-text", dimensions: 768 })
      .embed(["x"])
      .catch((e) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toMatch(/1536 dimensions, EMBEDDING_DIMENSIONS is 768/);
    // The server is named as the cause, with what to do.
    expect(error.message).toMatch(
      /the cause is the server at http:\/\/127\.0\.0\.1:\d+\/v1: its model nomic-embed-text makes 1536-dimensional vectors; choose one of 768/,
    );
  });
});

describe("OpenAI-compatible servers", () => {
  const withServer = async (encoding: EncodingSupport, run: (server: FakeOpenAI) => Promise<void>) => {
    const server = await startFakeOpenAI({ encoding, dimensions: 768 });
    try {
      await run(server);
    } finally {
      await server.close();
    }
  };
  const compatible = (server: FakeOpenAI, encoding?: "float" | "base64") =>
    openaiEmbedder({ apiKey: "test-openai-key", baseURL: server.url, model: "nomic-embed-text", dimensions: 768, encoding });

  it("asks for floats by default, so a server that ignores encoding_format (Ollama) gives full-width vectors", async () => {
    await withServer("ignores", async (server) => {
      const [vector] = await compatible(server).embed(["tiny telescopes"]);
      expect(vector).toHaveLength(768);
      expect(server.requests[0]!.encodingFormat).toBe("float");
    });
  });

  it("takes floats as floats when base64 is forced on a server that answers floats anyway", async () => {
    await withServer("ignores", async (server) => {
      const [forced] = await compatible(server, "base64").embed(["tiny telescopes"]);
      const [asked] = await compatible(server, "float").embed(["tiny telescopes"]);
      expect(server.requests.map((r) => r.encodingFormat)).toEqual(["base64", "float"]);
      // The SDK's own decoding read those numbers as base64: a 192-wide vector.
      expect(forced).toHaveLength(768);
      expect(forced).toEqual(asked);
    });
  });

  it("works with a server that refuses base64 with 400 (older vLLM), which forcing base64 turns into a permanent error", async () => {
    await withServer("refuses-base64", async (server) => {
      expect(await compatible(server).embed(["a", "b"])).toEqual([expect.any(Array), expect.any(Array)]);
      const error = await compatible(server, "base64")
        .embed(["a"])
        .catch((e) => e);
      expect(error).toBeInstanceOf(PermanentError);
      expect(error.message).toMatch(/400.*EMBEDDING_ENCODING=float/);
    });
  });

  it("calls a malformed vector (null, or base64 that is not whole float32s) a transient error, not a crash", async () => {
    for (const embedding of [null, Buffer.from([1, 2, 3, 4, 5]).toString("base64"), ["0.5"]]) {
      const server = createServer((_, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ object: "list", data: [{ object: "embedding", index: 0, embedding }], model: "m", usage: {} }));
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      try {
        const baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
        const error = await openaiEmbedder({
          apiKey: "test-openai-key",
          baseURL,
          model: "m",
          dimensions: 768,
          encoding: "base64",
          maxRetries: 0,
        })
          .embed(["a"])
          .catch((e) => e);
        expect(error, JSON.stringify(embedding)).toBeInstanceOf(TransientError);
        expect(error.message).toMatch(
          /embedding API returned a malformed vector: (a vector is null|a vector is object|a base64 embedding of 5 bytes)/,
        );
      } finally {
        server.close();
      }
    }
  });

  it("decodes base64 (OpenAI's own encoding) to the same vectors as floats", async () => {
    await withServer("honours", async (server) => {
      const [asBase64] = await compatible(server, "base64").embed(["orbital mechanics"]);
      const [asFloat] = await compatible(server, "float").embed(["orbital mechanics"]);
      expect(server.requests.map((r) => r.encodingFormat)).toEqual(["base64", "float"]);
      expect(asBase64).toHaveLength(768);
      for (const [i, value] of asBase64!.entries()) expect(value).toBeCloseTo(asFloat![i]!, 6);
    });
  });
});

describe("rate limits", () => {
  it("paces requests to the tokens-per-minute limit it learns from the headers, instead of hitting 429s", async () => {
    api.tokensPerMinute = 120_000;
    api.rateLimited = 0;
    try {
      const text = "lorem ipsum dolor sit amet ".repeat(259); // about 2,000 estimated tokens
      const texts = Array.from({ length: 66 }, (_, i) => `${i} ${text}`); // 10% more than the full bucket
      const vectors = await embedder({ limits: { maxInputs: 1, maxTokens: 300_000 } }).embed(texts);
      expect(vectors).toHaveLength(66);
      expect(api.requests).toHaveLength(66);
      expect(api.rateLimited).toBeLessThanOrEqual(1);
    } finally {
      api.tokensPerMinute = undefined;
    }
  });
});

describe("packRequests", () => {
  it("never packs an input alone past the limit into a neighbour's request", () => {
    const ranges = packRequests(["a".repeat(10), "b".repeat(1000), "c"], { maxInputs: 10, maxTokens: 100 });
    expect(ranges).toEqual([
      { start: 0, end: 1 },
      { start: 1, end: 2 },
      { start: 2, end: 3 },
    ]);
  });
});

describe("npm start's check of the embedder", () => {
  it("refuses a model that answers vectors of another size than the column, at start", async () => {
    const api = await startFakeOpenAI({ dimensions: 768 });
    try {
      // A model that takes no `dimensions` (not text-embedding-3): the server answers its own 768.
      const embedder = fakeServerEmbedder(api, { model: "nomic-embed-text" });
      await expect(checkEmbedderAnswers(embedder)).rejects.toThrow(/cannot serve nomic-embed-text: .*768 dimensions.*1536/);
      await expect(checkEmbedderAnswers(fakeServerEmbedder(api))).resolves.toBeUndefined();
    } finally {
      await api.close();
    }
  });
});
