// On a small labelled set of the sample content types (bench/labelled-set.ts), hybrid search finds at
// least as many relevant rows in its top 10 as either half alone: over the set, and query by query.
// The local lexical embedder: deterministic, offline (`npm run bench -- labelled` takes any embedder).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertLabelledSet, labelledQueries, relevantIn } from "../bench/labelled-set";
import { loadConfig } from "../functions/config";
import { processItems } from "../functions/core/process";
import type { Deps } from "../functions/deps";
import { localEmbedder } from "../functions/embedders/local";
import { search } from "../functions/search";
import { createRegistry } from "../schema/registry";
import type { Connection } from "../scripts/lib/database";
import { freshDatabase } from "./support/database";

const MODES = ["vector", "keyword", "hybrid"] as const;

let connection: Connection;
const found = new Map<string, Record<(typeof MODES)[number], number>>();
beforeAll(async () => {
  connection = await freshDatabase();
  const deps: Deps = { db: connection.db, config: loadConfig({}), registry: createRegistry(), embedder: localEmbedder(1536) };
  const { items, keyOf } = await insertLabelledSet(connection.db);
  expect((await processItems(deps, items)).failed).toEqual([]);
  for (const { query, relevant } of labelledQueries) {
    const counts = { vector: 0, keyword: 0, hybrid: 0 };
    for (const mode of MODES) {
      const { results } = await search(deps, { query, limit: 10, minScore: 0, mode }, "admin");
      counts[mode] = relevantIn(
        results.map((hit) => keyOf(hit.contentType, hit.contentId)),
        relevant,
      );
    }
    found.set(query, counts);
  }
});
afterAll(() => connection.close());

describe("the labelled set", () => {
  it("hybrid finds at least as many relevant rows in its top 10 as either half, over the set", () => {
    const total = (mode: (typeof MODES)[number]) => [...found.values()].reduce((sum, counts) => sum + counts[mode], 0);
    console.log(`relevant rows in the top 10, of ${labelledQueries.reduce((n, q) => n + q.relevant.length, 0)}:`, {
      vector: total("vector"),
      keyword: total("keyword"),
      hybrid: total("hybrid"),
    });
    expect(total("hybrid")).toBeGreaterThanOrEqual(Math.max(total("vector"), total("keyword")));
    // The halves differ on this set: words alone miss answers that share few of the query's words.
    expect(total("keyword")).toBeLessThan(total("hybrid"));
  });

  it.each(labelledQueries.map((q) => [q.query]))("%s: hybrid finds at least as many as either half", (query) => {
    const counts = found.get(query)!;
    expect(counts.hybrid).toBeGreaterThanOrEqual(Math.max(counts.vector, counts.keyword));
  });
});
