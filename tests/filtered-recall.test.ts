// A filtered search keeps its rows: whatever share of the rows a type filter or a search filter (an
// equal value, any of several, a date range) keeps (one row to all), a search returns as many as asked
// for, through the HNSW index's iterative scan or exactly; where the filter matches at most
// SEARCH_EXACT_LIMIT chunks, exactly the exact scan's top 10. (0.01% of these 2,000 rows is no row:
// one row, 0.05%, is the rarest; BENCHMARKS.md measures 0.01% at 100,000 chunks.)
import { type SQL, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { realisticText, seededRandom } from "../bench/corpus";
import { rowsOf } from "../functions/db/database";
import { dropHnswIndex, restoreHnswIndex } from "../functions/db/hnsw-index";
import type { Deps } from "../functions/deps";
import { embedLocally, localEmbedder } from "../functions/embedders/local";
import { search } from "../functions/search";
import { configGroups, KEYWORD_RANK_LIMIT, keywordChunks } from "../functions/search/keyword";
import { communityPost } from "../schema";
import { createRegistry, defaultRegistry } from "../schema/registry";
import type { Connection } from "../scripts/lib/database";
import { freshDatabase } from "./support/database";
import { testDeps } from "./support/deps";

const ROWS = 2000;
/** Types by how many of the rows they hold: 0.05%, 1%, 10% and the rest. */
const SHARES = { rare: 1, few: 20, some: 200, most: ROWS - 221 };
const post = defaultRegistry.find((entry) => entry.type === "post")!;
// Every type may be filtered by a text field `group` and a date `createdAt` (the columns only name their kinds here).
const registry = createRegistry(
  Object.keys(SHARES).map((type) => ({
    ...post,
    type,
    search: { ...post.search, filters: { group: communityPost.title, createdAt: communityPost.createdAt } },
  })),
);
/** A row's `group` is drawn apart from its type, with the same shares; its date is a minute after the previous row's. */
const GROUPS = { g1: 1, g20: 20, g200: 200, rest: ROWS - 221 };
const DAY0 = Date.parse("2026-01-01T00:00:00Z");
const minute = (i: number) => new Date(DAY0 + i * 60_000).toISOString();
const embedder = localEmbedder(1536);
const queries = Array.from({ length: 5 }, (_, i) => realisticText(seededRandom(100 + i)).slice(0, 60));

let connection: Connection;
beforeAll(async () => {
  connection = await freshDatabase();
  const random = seededRandom(7);
  const types = Object.entries(SHARES).flatMap(([type, n]) => Array<string>(n).fill(type));
  // The groups in another order than the types: row i's group is that of row (i × 7) mod ROWS.
  const groupOrder = Object.entries(GROUPS).flatMap(([group, n]) => Array<string>(n).fill(group));
  const groups = types.map((_, i) => groupOrder[(i * 7) % ROWS]!);
  // Loaded without the HNSW index and indexed after, as a first load is (scripts/lib/initial-load.ts):
  // inserting into the graph row by row took most of the setup, over 300 s on a busy machine.
  await dropHnswIndex(connection.db);
  for (let start = 0; start < ROWS; start += 250) {
    const values = types.slice(start, start + 250).map((type, j) => {
      const text = realisticText(random);
      const i = start + j;
      return sql`(${type}, ${String(i)}, 0, ${text}, 'h', ${embedder.model}, 1536, ${JSON.stringify(embedLocally(text, 1536))}::vector,
        ${JSON.stringify({ group: groups[i] })}::jsonb, ${minute(i)}::timestamptz)`;
    });
    await connection.db.execute(
      sql`INSERT INTO embeddings (content_type, content_id, chunk_index, chunk_text, content_hash, model, dimensions, embedding, filters, filter_date) VALUES ${sql.join(values, sql`, `)}`,
    );
  }
  await restoreHnswIndex(connection.db);
  await connection.db.execute(sql`ANALYZE embeddings`);
}, 300_000);
afterAll(() => connection.close());

/** The exact top 10 by cosine distance: every matching row's distance, sorted (no index can skip one). */
async function exactTop(query: string, types: string[] | undefined, where?: SQL) {
  const vector = JSON.stringify(embedLocally(query, 1536));
  const conditions = [
    ...(types
      ? [
          sql`content_type IN (${sql.join(
            types.map((t) => sql`${t}`),
            sql`, `,
          )})`,
        ]
      : []),
    ...(where ? [where] : []),
  ];
  return connection.db.transaction(async (tx) => {
    await tx.execute(sql`SET LOCAL enable_indexscan = off`);
    const rows = await rowsOf<{ content_id: string }>(
      tx.execute(sql`SELECT content_id FROM embeddings
        ${conditions.length ? sql`WHERE ${sql.join(conditions, sql` AND `)}` : sql``}
        ORDER BY embedding <=> ${vector}::vector, content_id LIMIT 10`),
    );
    return rows.map((row) => row.content_id);
  });
}

const depsWith = (exactLimit: number): Deps =>
  testDeps(connection.db, { registry, embedder, env: { SEARCH_EXACT_LIMIT: String(exactLimit) } });
const FILTERS = [
  ["0.05%", ["rare"]],
  ["1%", ["few"]],
  ["10%", ["some"]],
  ["11%", ["some", "few", "rare"]],
  ["89%", ["most"]],
  ["100%", undefined],
] as const;
const vectorSearch = (exactLimit: number, query: string, types: readonly string[] | undefined) =>
  search(depsWith(exactLimit), { query, types: types ? [...types] : undefined, limit: 10, minScore: -1, mode: "vector" }, "admin");

describe("vector search under a type filter", () => {
  // pgvector #479's failure: a filter applied after the index's first ef_search candidates returns
  // fewer rows than asked. The iterative scan goes on until it has them.
  it.each(FILTERS)("returns as many rows as asked for with a filter keeping %s, even through the HNSW index", async (_share, types) => {
    const matching = types ? types.reduce((sum, type) => sum + SHARES[type], 0) : ROWS;
    for (const exactLimit of [0, 500]) {
      for (const query of queries) expect((await vectorSearch(exactLimit, query, types)).results).toHaveLength(Math.min(10, matching));
    }
  });

  it.each(FILTERS.slice(0, 4))(
    "with a filter keeping %s (at most SEARCH_EXACT_LIMIT chunks), the exact scan's top 10",
    async (_share, types) => {
      for (const query of queries) {
        const exact = await exactTop(query, [...types!]);
        expect((await vectorSearch(500, query, types)).results.map((hit) => hit.contentId)).toEqual(exact);
      }
    },
  );
});

describe("keyword and hybrid search under a filter", () => {
  it.each([["rare"], ["few"], ["some"]] as const)("%s: every hit is of the filtered type; hybrid as many as asked for", async (type) => {
    // Two words of one of the type's rows: the keyword half has a row to find.
    const [row] = await rowsOf<{ chunk_text: string }>(
      connection.db.execute(sql`SELECT chunk_text FROM embeddings WHERE content_type = ${type} LIMIT 1`),
    );
    const query = row!.chunk_text.split(/\W+/).slice(0, 2).join(" ");
    for (const mode of ["keyword", "hybrid"] as const) {
      const answer = await search(depsWith(500), { query, types: [type], limit: 10, minScore: -1, mode }, "admin");
      expect(answer.results.length).toBeGreaterThan(0);
      expect(answer.results.every((hit) => hit.contentType === type)).toBe(true);
      // The vector half, with no floor, finds every row of the type.
      if (mode === "hybrid") expect(answer.results).toHaveLength(Math.min(10, SHARES[type]));
    }
  });
});

describe("the keyword half's rank limit", () => {
  const ranked = async (query: string, rankLimit: number) =>
    rowsOf<{ content_id: string }>(
      connection.db.execute(keywordChunks(query, configGroups(registry, undefined), 40, undefined, rankLimit)),
    ).then((rows) => rows.map((row) => row.content_id));

  it("ranks only the newest matches of a query of common words, and every match of a rarer one", async () => {
    const [row] = await rowsOf<{ chunk_text: string }>(connection.db.execute(sql`SELECT chunk_text FROM embeddings LIMIT 1`));
    const common = row!.chunk_text.split(/\W+/).slice(0, 2).join(" ");
    const newest = await rowsOf<{ content_id: string }>(
      connection.db.execute(
        sql`SELECT content_id FROM embeddings WHERE text_search @@ websearch_to_tsquery('english', ${common}) ORDER BY id DESC LIMIT 50`,
      ),
    );
    expect(newest).toHaveLength(50);
    const capped = await ranked(common, 50);
    expect(capped).toHaveLength(40);
    const allowed = new Set(newest.map((r) => r.content_id));
    for (const id of capped) expect(allowed.has(id)).toBe(true);
    // Under the limit the ranking is over every match: the same as with no limit.
    const rare = row!.chunk_text.slice(0, 60);
    expect(await ranked(rare, KEYWORD_RANK_LIMIT)).toEqual(await ranked(rare, 1e9));
    expect(await ranked(common, 1e9)).not.toEqual(capped);
  });
});

describe("search filters keep their rows too", () => {
  /** Each filter, the rows it keeps, and the same condition in SQL for the exact scan. */
  const SEARCH_FILTERS = [
    ["0.05%", { group: "g1" }, 1, sql`filters @> '{"group": "g1"}'`],
    ["1%", { group: "g20" }, 20, sql`filters @> '{"group": "g20"}'`],
    [
      "1%, a date range",
      { createdAt: { from: minute(1000), to: minute(1020) } },
      20,
      sql`filter_date >= ${minute(1000)}::timestamptz AND filter_date < ${minute(1020)}::timestamptz`,
    ],
    ["11%, any of three values", { group: ["g1", "g20", "g200"] }, 221, sql`filters->>'group' IN ('g1', 'g20', 'g200')`],
    [
      "0.5%, a value and a date range",
      { group: "rest", createdAt: { from: minute(0), to: minute(11) } },
      undefined,
      sql`filters @> '{"group": "rest"}' AND filter_date < ${minute(11)}::timestamptz`,
    ],
    ["50%, a date range from", { createdAt: { from: minute(1000) } }, 1000, sql`filter_date >= ${minute(1000)}::timestamptz`],
    ["89%", { group: "rest" }, GROUPS.rest, sql`filters @> '{"group": "rest"}'`],
  ] as const;
  const filtered = (
    exactLimit: number,
    query: string,
    filters: Record<string, unknown>,
    mode: "vector" | "keyword" | "hybrid" = "vector",
  ) => search(depsWith(exactLimit), { query, limit: 10, minScore: -1, mode, filters: filters as never }, "admin");
  const kept = async (where: SQL) =>
    rowsOf<{ content_id: string }>(connection.db.execute(sql`SELECT content_id FROM embeddings WHERE ${where}`)).then(
      (rows) => new Set(rows.map((row) => row.content_id)),
    );

  it.each(SEARCH_FILTERS)(
    "%s: as many rows as asked for, each kept by the filter, through the index or exactly",
    async (_share, filters, n, where) => {
      const rows = await kept(where);
      if (n !== undefined) expect(rows.size).toBe(n);
      for (const exactLimit of [0, 500]) {
        for (const query of queries.slice(0, 3)) {
          const ids = (await filtered(exactLimit, query, filters)).results.map((hit) => hit.contentId);
          expect(ids).toHaveLength(Math.min(10, rows.size));
          for (const id of ids) expect(rows.has(id)).toBe(true);
        }
      }
    },
  );

  it.each(SEARCH_FILTERS.filter(([, , n]) => n === undefined || n <= 500))(
    "%s (at most SEARCH_EXACT_LIMIT chunks): the exact scan's top 10",
    async (_share, filters, _n, where) => {
      for (const query of queries)
        expect((await filtered(500, query, filters)).results.map((hit) => hit.contentId)).toEqual(await exactTop(query, undefined, where));
    },
  );

  it("applies in the keyword and hybrid halves: every hit kept by the filter", async () => {
    const rows = await kept(sql`filters @> '{"group": "g200"}'`);
    const [row] = await rowsOf<{ chunk_text: string }>(
      connection.db.execute(sql`SELECT chunk_text FROM embeddings WHERE filters @> '{"group": "g200"}' LIMIT 1`),
    );
    const query = row!.chunk_text.split(/\W+/).slice(0, 2).join(" ");
    for (const mode of ["keyword", "hybrid"] as const) {
      const { results } = await filtered(500, query, { group: "g200" }, mode);
      expect(results.length).toBeGreaterThan(0);
      for (const hit of results) expect(rows.has(hit.contentId)).toBe(true);
      if (mode === "hybrid") expect(results).toHaveLength(10);
    }
  });
});
