// Where code may live, read from the sources: the queue's states have one owner, and the benchmarks lean
// on nothing of the tests' own plumbing.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const sources = (dir: string) =>
  readdirSync(dir, { recursive: true })
    .map(String)
    .filter((file) => file.endsWith(".ts"))
    .map((file) => ({ path: `${dir}/${file}`, text: readFileSync(`${dir}/${file}`, "utf8") }));

/** A write of embedding_queue rows: through Drizzle, in SQL, or through the capture SQL function. */
const QUEUE_WRITE =
  /\.(insert|update|delete)\(embeddingQueue\)|\b(INSERT INTO|UPDATE|DELETE FROM)\s+embedding_queue\b|queue_for_embedding\(/i;

describe("boundaries", () => {
  it("only functions/queue/ writes embedding_queue rows (the triggers' SQL function aside, in schema/)", () => {
    const writers = [...sources("functions"), ...sources("scripts")]
      .filter((file) => !file.path.startsWith("functions/queue/") && QUEUE_WRITE.test(file.text))
      .map((file) => file.path);
    expect(writers).toEqual([]);
  });

  it("bench/ and testing/ import nothing from tests/", () => {
    const importers = [...sources("bench"), ...sources("testing")]
      .filter((file) => /from\s+["'][./]*tests\//.test(file.text))
      .map((file) => file.path);
    expect(importers).toEqual([]);
  });
});
