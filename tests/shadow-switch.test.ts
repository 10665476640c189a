// A model switch with no gap (issue 24): a shadow set of another size, stored as halfvec, filled by
// the same pipeline at backfill priority while search answers from the serving set; the switch
// refused until coverage is complete, then the switch and the rollback one call each; the set switched
// from kept current for rollback and dropped by maintenance only after its grace. PGlite and PostgreSQL.
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFunctionApp } from "../functions/app";
import { loadConfig } from "../functions/config";
import { processItems } from "../functions/core/process";
import { rowsOf } from "../functions/db/database";
import { dropHnswIndex, restoreHnswIndex } from "../functions/db/hnsw-index";
import type { Deps } from "../functions/deps";
import { drain } from "../functions/drain";
import { localEmbedder } from "../functions/embedders/local";
import { TransientError } from "../functions/lib/errors";
import { maintain } from "../functions/maintenance";
import { search } from "../functions/search";
import { confirmSetWriter } from "../functions/sets/sets";
import { createShadow, shadowCoverage } from "../functions/sets/shadow";
import { switchSets } from "../functions/sets/switch";
import { embeddingQueue } from "../schema";
import { BACKGROUND_PRIORITY, createRegistry } from "../schema/registry";
import type { Connection } from "../scripts/lib/database";
import { modelCommand } from "../scripts/lib/model-command";
import { freshDatabase } from "./support/database";
import { columnType as columnTypeOf, servedPosts } from "./support/switch-fixture";

const TOPICS = [
  "Tide pools and kelp forests",
  "Volcanic rock and basalt",
  "Baroque counterpoint",
  "Sourdough starters",
  "Orbital mechanics",
];
const env = { EMBEDDER: "local", EMBEDDING_SHADOW_DIMENSIONS: "384", ADMIN_TOKEN: "switch-admin" };

let connection: Connection;
let deps: Deps;
let posts: string[];
const serving = localEmbedder(1536);
const shadow = localEmbedder(384);

const columnType = (table: string) => columnTypeOf(connection.db, table);
const find = (query: string) => search(deps, { query, limit: 3, minScore: 0.05 }, "admin");
const pendingItems = async () => (await connection.db.select().from(embeddingQueue)).filter((q) => q.status === "pending");

beforeAll(async () => {
  connection = await freshDatabase();
  deps = { db: connection.db, config: loadConfig(env), registry: createRegistry(), embedder: serving, shadowEmbedder: shadow };
  posts = await servedPosts(deps, TOPICS);
});
afterAll(async () => {
  await connection.close();
});

describe("a model switch with no gap", () => {
  it("makes a shadow of another size as halfvec and queues every item at backfill priority", async () => {
    const result = await createShadow(connection.db, { model: shadow.model, dimensions: 384, storage: "halfvec" }, serving);
    expect(result).toEqual({ copied: 0, queued: TOPICS.length });
    expect(await columnType("embeddings_shadow")).toBe("halfvec(384)");
    expect(await columnType("embeddings")).toBe("vector(1536)");
    expect((await pendingItems()).map((q) => [q.priority, q.source])).toEqual(TOPICS.map(() => [BACKGROUND_PRIORITY, "backfill"]));
    // Row-level security as on embeddings, and its own sequence.
    const [rls] = await rowsOf<{ on: boolean }>(
      connection.db.execute(sql`SELECT relrowsecurity AS on FROM pg_class WHERE oid = 'embeddings_shadow'::regclass`),
    );
    expect(rls?.on).toBe(true);
  });

  it("refuses a second shadow and a vector of more dimensions than HNSW indexes", async () => {
    await expect(createShadow(connection.db, { model: "x", dimensions: 384, storage: "halfvec" }, serving)).rejects.toThrow(
      /a shadow set exists already/,
    );
    await expect(createShadow(connection.db, { model: "x", dimensions: 3072, storage: "vector" }, serving)).rejects.toThrow(
      /at most 2000 dimensions, not 3072: store it as halfvec/,
    );
  });

  it("refuses the switch while coverage is incomplete, saying how much is missing; search answers from the serving set", async () => {
    await expect(switchSets(connection.db, "rollback")).rejects.toThrow(/was never served: there is nothing to roll back to/);
    await expect(switchSets(connection.db, "switch")).rejects.toThrow(/holds 0 of 5 chunks \(0\.0%\): 5 chunks of 5 items are missing/);
    const answer = await find("kelp forests tide pools");
    expect(answer.results[0]?.contentId).toBe(posts[0]);
    const page = await statusPage();
    expect(page).toContain("shadow local-lexical-v1 (384 dimensions, halfvec) holds 0 of 5 chunks (0%)");
  });

  it("fills the shadow through the drain, then the status page says it is ready", async () => {
    const summary = await drain(deps);
    expect(summary.done).toBe(TOPICS.length);
    expect(await shadowCoverage(connection.db)).toEqual({ servingChunks: 5, covered: 5, missingItems: 0 });
    const page = await statusPage();
    expect(page).toContain('holds 5 of 5 chunks (100%) · <b class="good">ready: npm run model -- switch</b>');
  });

  it("writes both sets on a live change while the shadow fills", async () => {
    await connection.db.execute(sql`UPDATE community_post SET title = 'Tide pools, kelp and sea otters' WHERE id = ${posts[0]}`);
    await processItems(deps, [{ contentType: "post", contentId: posts[0]! }]);
    expect(await shadowCoverage(connection.db)).toMatchObject({ covered: 5, missingItems: 0 });
  });

  it("switches in one call: search answers with the shadow's model and size", async () => {
    const out = await modelCommand(connection.db, deps.config, ["switch"]);
    expect(out).toMatch(/^serving local-lexical-v1 \(384 dimensions, halfvec\) \(switch took \d+ ms\)/);
    expect(await columnType("embeddings")).toBe("halfvec(384)");
    expect(await columnType("embeddings_shadow")).toBe("vector(1536)");
    const answer = await find("sea otters kelp");
    expect(answer.results[0]?.contentId).toBe(posts[0]);
    expect(answer.reembedding).toBeUndefined();
    const indexes = await rowsOf<{ name: string }>(
      connection.db.execute(sql`SELECT indexname AS name FROM pg_indexes WHERE tablename = 'embeddings' ORDER BY 1`),
    );
    expect(indexes.map((i) => i.name)).toContain("embeddings_embedding_hnsw");
    expect(await statusPage()).toMatch(/local-lexical-v1 \(1536 dimensions, vector\) kept for rollback until \S+ \(100% current\)/);
  });

  it("makes a run that embedded before the switch committed again, rather than write its vectors under the other set's name", async () => {
    const write = (table: string, writer: { model: string; dimensions: number }) =>
      connection.db.transaction((tx) => confirmSetWriter(tx, table, writer));
    await expect(write("embeddings", serving)).rejects.toThrow(
      /a model switch committed while this run embedded: embeddings now holds local-lexical-v1 \(384 dimensions, halfvec\), not local-lexical-v1 \(1536\)/,
    );
    await expect(write("embeddings_shadow", shadow)).rejects.toThrow(TransientError);
    await write("embeddings", shadow);
    await write("embeddings_shadow", serving);
  });

  it("rebuilds a dropped HNSW index of a halfvec serving set with halfvec's operator class", async () => {
    await dropHnswIndex(connection.db);
    expect(await restoreHnswIndex(connection.db)).toBe(true);
    const [index] = await rowsOf<{ definition: string }>(
      connection.db.execute(sql`SELECT indexdef AS definition FROM pg_indexes WHERE indexname = 'embeddings_embedding_hnsw'`),
    );
    expect(index?.definition).toContain("halfvec_cosine_ops");
    expect((await find("sea otters kelp")).results[0]?.contentId).toBe(posts[0]);
  });

  it("keeps the set switched from current, so a rollback serves no stale row, and rolls back in one call", async () => {
    await connection.db.execute(sql`UPDATE community_post SET title = 'Gregorian chant and counterpoint' WHERE id = ${posts[2]}`);
    await processItems(deps, [{ contentType: "post", contentId: posts[2]! }]);
    const result = await switchSets(connection.db, "rollback");
    expect(result.serving).toMatchObject({ dimensions: 1536, storage: "vector" });
    expect(await columnType("embeddings")).toBe("vector(1536)");
    expect((await find("gregorian chant")).results[0]?.contentId).toBe(posts[2]);
    await switchSets(connection.db, "switch");
    expect(await columnType("embeddings")).toBe("halfvec(384)");
  });

  it("answers every search made while it switches and rolls back, each from one model's vectors", async () => {
    const searches = Array.from({ length: 12 }, (_, i) => find(i % 2 ? "sea otters kelp" : "orbital mechanics"));
    await switchSets(connection.db, "rollback");
    await switchSets(connection.db, "switch");
    const answers = await Promise.all([...searches, ...Array.from({ length: 4 }, () => find("sea otters kelp"))]);
    for (const [i, answer] of answers.entries()) {
      expect(answer.results[0]?.contentId).toBe(i % 2 || i >= 12 ? posts[0] : posts[4]);
      expect(answer.reembedding).toBeUndefined();
    }
    expect(await columnType("embeddings")).toBe("halfvec(384)");
  });

  it("never writes a set with another model's vectors: a deployment without the serving model's embedder waits, saying what to set", async () => {
    const withoutIt = { ...deps, shadowEmbedder: undefined };
    await expect(processItems(withoutIt, [{ contentType: "post", contentId: posts[1]! }])).rejects.toThrow(
      /the serving embeddings are local-lexical-v1 \(384 dimensions, halfvec\).*set EMBEDDING_MODEL and EMBEDDING_DIMENSIONS to the serving model/,
    );
    await expect(search(withoutIt, { query: "basalt", limit: 3, minScore: 0 }, "admin")).rejects.toThrow(
      /the serving embeddings are local-lexical-v1 \(384/,
    );
  });

  it("drops the set switched from only after its grace (EMBEDDING_ROLLBACK_DAYS)", async () => {
    expect(await maintain(deps)).toMatchObject({ retiredSetDropped: false, staleModelItemsQueued: 0 });
    await connection.db.execute(sql`UPDATE embedding_sets SET retired_at = now() - interval '8 days' WHERE role = 'shadow'`);
    expect(await maintain(deps)).toMatchObject({ retiredSetDropped: true });
    expect(await columnType("embeddings_shadow")).toBeUndefined();
    expect((await find("orbital mechanics")).results[0]?.contentId).toBe(posts[4]);
    expect(await modelCommand(connection.db, deps.config, ["status"])).toMatch(/No model switch/);
  });

  it("migrates to halfvec of the same model by copying, with no embedding call", async () => {
    const sameModel = { ...deps, embedder: shadow, shadowEmbedder: undefined };
    await connection.db.execute(sql`DELETE FROM embedding_sets`);
    const calls: number[] = [];
    const counted = { ...shadow, embed: async (texts: string[]) => (calls.push(texts.length), shadow.embed(texts)) };
    // Back to vector first (the serving set is halfvec now), then to halfvec again: each a copy.
    const toVector = await createShadow(connection.db, { model: shadow.model, dimensions: 384, storage: "vector" }, shadow);
    expect(toVector).toEqual({ copied: 5, queued: 0 });
    await processItems({ ...sameModel, embedder: counted }, [{ contentType: "post", contentId: posts[3]! }]);
    expect(calls).toEqual([]);
    await switchSets(connection.db, "switch");
    expect(await columnType("embeddings")).toBe("vector(384)");
    expect((await find("sourdough")).results[0]?.contentId).toBe(posts[3]);
  });
});

async function statusPage() {
  const app = createFunctionApp("status", deps);
  return (await app.request("/api/embeddings/status", { headers: { authorization: "Bearer switch-admin" } })).text();
}
