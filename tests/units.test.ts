// The pure pieces on their own, fast enough to run on save: chunking, lanes and their windows,
// reading a change from each payload the enqueue endpoint accepts, decoding base64 vectors, and the
// binary COPY format's refusals.
import { describe, expect, it } from "vitest";
import { chunkText } from "../functions/core/chunk";
import { estimateTokens } from "../functions/embedders/embedder";
import { parseChanges } from "../functions/enqueue/changes";
import { decodeFloat32Base64 } from "../functions/lib/base64";
import { BadRequestError } from "../functions/lib/errors";
import { COALESCE_WINDOW_MS, coalescingWindow, laneFor } from "../functions/qstash/lanes";
import { createRegistry } from "../schema/registry";
import { copyBinary } from "../scripts/lib/copy-binary";

describe("chunkText", () => {
  const options = { maxTokens: 40, overlapTokens: 8 };
  const sentences = Array.from({ length: 30 }, (_, i) => `Sentence number ${i} talks about the stars and planets.`).join(" ");

  it("keeps short text whole and drops blank text", () => {
    expect(chunkText("  Intro to astronomy  ", options)).toEqual(["Intro to astronomy"]);
    expect(chunkText(" \n ", options)).toEqual([]);
  });

  it("splits long text into chunks within the limit that overlap and cover every word", () => {
    const chunks = chunkText(sentences, options);
    expect(chunks.length).toBeGreaterThan(3);
    for (const chunk of chunks) expect(estimateTokens(chunk)).toBeLessThanOrEqual(options.maxTokens);
    for (let i = 1; i < chunks.length; i++) {
      const previousTail = chunks[i - 1]!.split(" ").slice(-2).join(" ");
      expect(chunks[i]!.includes(previousTail), `chunk ${i} overlaps its predecessor`).toBe(true);
    }
    const words = new Set(chunks.join(" ").split(/\s+/));
    for (const word of sentences.split(/\s+/)) expect(words.has(word)).toBe(true);
  });

  it("prefers to end a chunk at a sentence", () => {
    // Sentences short enough that one always ends in a chunk's last third, where it may break.
    const short = Array.from({ length: 60 }, (_, i) => `Star ${i} shines.`).join(" ");
    for (const chunk of chunkText(short, options).slice(0, -1)) expect(chunk).toMatch(/[.!?]$/);
  });

  it("cuts a word longer than a chunk", () => {
    const chunks = chunkText("x".repeat(500), { maxTokens: 50, overlapTokens: 0 });
    expect(chunks.join("")).toBe("x".repeat(500));
    for (const chunk of chunks) expect(estimateTokens(chunk)).toBeLessThanOrEqual(50);
  });
});

describe("lanes", () => {
  it("route priorities 1–2 immediately, 3–4 queued, 5 and past through the database", () => {
    expect([1, 2, 3, 4, 5, 9].map(laneFor)).toEqual(["immediate", "immediate", "queued", "queued", "database", "database"]);
  });

  it("share one window, and one delivery time at its end, for changes close together", () => {
    const width = COALESCE_WINDOW_MS.queued;
    const start = 1_700_000_000_000 - (1_700_000_000_000 % width);
    const first = coalescingWindow("queued", start + 1);
    const last = coalescingWindow("queued", start + width - 1);
    expect(last).toEqual(first);
    expect(first.deliverAt).toBe(start + width);
    expect(coalescingWindow("queued", start + width).window).toBe(first.window + 1);
  });
});

describe("parseChanges", () => {
  const registry = createRegistry();
  const id = "3f1d2c9e-8a6b-4c1e-9f3a-2b7d5e6c4a10";

  it("reads a Supabase webhook, a Hasura event and a direct item alike", () => {
    const supabase = parseChanges(registry, {
      type: "DELETE",
      table: "community_post",
      schema: "public",
      record: null,
      old_record: { id },
    });
    const hasura = parseChanges(registry, {
      event: { op: "DELETE", data: { old: { id }, new: null } },
      table: { schema: "public", name: "community_post" },
    });
    const direct = parseChanges(registry, { contentType: "post", contentId: id, op: "delete" });
    for (const changes of [supabase, hasura, direct])
      expect(changes).toMatchObject([{ contentType: "post", contentId: id, op: "delete", priority: 4 }]);
  });

  it("refuses what it cannot read, saying what was wrong", () => {
    expect(() => parseChanges(registry, [])).toThrow(BadRequestError);
    expect(() => parseChanges(registry, { contentType: "nope", contentId: id })).toThrow(/unknown content type "nope"/);
    expect(() => parseChanges(registry, "text")).toThrow(/JSON object or array/);
  });
});

describe("decodeFloat32Base64", () => {
  const vector = [0.125, -1.5, 3.4028234663852886e38, 1e-45, 0, -0.0078125];
  const base64 = Buffer.from(new Float32Array(vector).buffer).toString("base64");

  it("reads OpenAI's little-endian float32s, with Buffer (Node) and with atob (the edge)", () => {
    expect(decodeFloat32Base64(base64)).toEqual(vector.map(Math.fround));
    const buffer = globalThis.Buffer;
    try {
      (globalThis as { Buffer?: unknown }).Buffer = undefined;
      expect(decodeFloat32Base64(base64)).toEqual(vector.map(Math.fround));
    } finally {
      globalThis.Buffer = buffer;
    }
  });

  it("refuses bytes that are not whole float32s", () => {
    expect(() => decodeFloat32Base64(Buffer.from([1, 2, 3, 4, 5]).toString("base64"))).toThrow(/5 bytes is not whole float32s/);
  });
});

describe("copyBinary", () => {
  it("refuses what the binary format would silently wrap, as the upsert's casts refuse it", () => {
    for (const int4 of [2 ** 31, -(2 ** 31) - 1, 1.5, Number.NaN]) expect(() => copyBinary([[{ int4 }]])).toThrow(/is not an int4/);
    expect(() => copyBinary([[{ vector: new Array(0x8000).fill(0) }]])).toThrow(/32768 dimensions/);
    expect(copyBinary([[{ int4: 2 ** 31 - 1 }, { int4: -(2 ** 31) }, { text: "é" }]]).length).toBe(11 + 8 + 2 + 2 + 3 * 4 + 4 + 4 + 2);
  });
});
