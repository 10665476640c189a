// A model switch and halfvec (issue 24), through the pipeline's own code on a bench database:
// - `halfvec`: the serving set's float32 vectors migrated to a halfvec shadow (createShadow's copy),
//   switched to; table + index sizes of both, and recall@10 of search through the halfvec HNSW index
//   against float32's exact results (float32's own HNSW recall beside it);
// - `switch`: 20,000 rows served by model A while a shadow of model B (another size, halfvec) fills by
//   the pipeline's upsert, then switch, rollback, switch, with searches (search() itself, mode vector)
//   running throughout: errors, and recall@10 of each answer against an exact scan of the model that
//   served it.
// The vectors are bench/clustered.ts's (topics in a latent space, a model a projection of it), not the
// local embedder's. Model B is another projection of the same points: another model of the same texts.
import { sql } from "drizzle-orm";
import { loadConfig } from "../functions/config";
import { upsertChunks } from "../functions/core/store";
import { rowsOf } from "../functions/db/database";
import { buildHnswIndex, dropHnswIndex } from "../functions/db/hnsw-index";
import type { Deps } from "../functions/deps";
import type { Embedder } from "../functions/embedders/embedder";
import { search } from "../functions/search";
import { readSets } from "../functions/sets/sets";
import { createShadow } from "../functions/sets/shadow";
import { prepareSwitch, switchSets } from "../functions/sets/switch";
import { SHADOW_TABLE } from "../schema/pipeline-tables";
import { createRegistry } from "../schema/registry";
import { type BenchDatabase, copyText, openBenchDatabase } from "./bench-database";
import { latentPoints, projection } from "./clustered";
import { percentile } from "./corpus";
import { watchSessionWaits } from "./session-waits";

const QUERIES = 100;
const K = 10;

const id = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
const text = (i: number) => `bench row ${i}`;

/** Which model last embedded each query text: the one whose vectors answered it. */
const lastModel = new Map<string, string>();

/** An embedder of the bench's queries: the query text is its index among `vectors`. */
const queryEmbedder = (model: string, vectors: number[][]): Embedder => ({
  model,
  dimensions: vectors[0]!.length,
  embed: async (texts) =>
    texts.map((t) => {
      lastModel.set(t, model);
      return vectors[Number(t)]!;
    }),
});

async function load(db: BenchDatabase, model: string, vectors: number[][]) {
  const columns = ["content_type", "content_id", "chunk_index", "chunk_text", "content_hash", "model", "dimensions", "embedding"];
  const lines = vectors.map((v, i) =>
    [copyText("post"), id(i), 0, copyText(text(i)), `h${i}`, model, v.length, JSON.stringify(v)].join("\t"),
  );
  await dropHnswIndex(db.db);
  await db.copyIn("embeddings", columns, lines);
  await buildHnswIndex(db.db, "512MB");
  await db.db.execute(sql`ANALYZE embeddings`);
}

/** The exact top K of each query vector against `table`, by sequential scan. */
async function exactTopK(db: BenchDatabase, table: string, queries: number[][], cast: string): Promise<string[][]> {
  const tops: string[][] = [];
  for (const q of queries) {
    const rows = await db.db.transaction(async (tx) => {
      await tx.execute(sql`SELECT set_config('enable_indexscan', 'off', true)`);
      return rowsOf<{ content_id: string }>(
        tx.execute(
          sql`SELECT content_id FROM ${sql.identifier(table)} ORDER BY embedding <=> ${JSON.stringify(q)}::${sql.raw(cast)} LIMIT ${K}`,
        ),
      );
    });
    tops.push(rows.map((r) => r.content_id));
  }
  return tops;
}

const recall = (found: string[], exact: string[]) => found.filter((x) => exact.includes(x)).length / exact.length;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);

/** Bytes of a table with its TOAST, and of its HNSW index, and everything (all indexes). */
async function sizes(db: BenchDatabase, table: string) {
  const [row] = await db.query<{ heap: string; hnsw: string; total: string }>(
    `SELECT pg_table_size($1::regclass) AS heap,
       (SELECT sum(pg_relation_size(i.indexrelid)) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
         WHERE i.indrelid = $1::regclass AND a.amname = 'hnsw') AS hnsw,
       pg_total_relation_size($1::regclass) AS total`,
    [table],
  );
  return { heapMB: Number(row!.heap) / 2 ** 20, hnswMB: Number(row!.hnsw) / 2 ** 20, totalMB: Number(row!.total) / 2 ** 20 };
}

function benchDeps(db: BenchDatabase, embedder: Embedder, shadowEmbedder?: Embedder): Deps {
  return { db: db.db, config: loadConfig({ EMBEDDER: "local" }), registry: createRegistry(), embedder, shadowEmbedder };
}

async function searchRecall(deps: Deps, exact: string[][]) {
  const recalls: number[] = [];
  const ms: number[] = [];
  for (let q = 0; q < exact.length; q++) {
    const started = performance.now();
    const answer = await search(deps, { query: String(q), limit: K, minScore: -1, mode: "vector" }, "admin");
    ms.push(performance.now() - started);
    recalls.push(
      recall(
        answer.results.map((r) => r.contentId),
        exact[q]!,
      ),
    );
  }
  return { recall: mean(recalls), minRecall: Math.min(...recalls), p50: percentile(ms, 50), p95: percentile(ms, 95) };
}

/** float32 → halfvec of the same model: sizes, and recall against float32's exact results. */
export async function halfvecBench(n: number) {
  const db = await openBenchDatabase();
  try {
    const points = latentPoints(n + QUERIES, 1);
    const model = projection(1536, 2);
    const vectors = points.slice(0, n).map((z, i) => model(z, 1000 + i));
    const queries = points.slice(n).map((z, i) => model(z, 9_000_000 + i));
    await load(db, "bench-a", vectors);
    const embedder = queryEmbedder("bench-a", queries);
    const deps = benchDeps(db, embedder);
    const exact = await exactTopK(db, "embeddings", queries, "vector");
    const float32 = { ...(await sizes(db, "embeddings")), ...(await searchRecall(deps, exact)) };
    const shadowStarted = performance.now();
    const made = await createShadow(db.db, { model: "bench-a", dimensions: 1536, storage: "halfvec" }, embedder);
    const shadowSeconds = (performance.now() - shadowStarted) / 1000;
    await db.db.execute(sql`ANALYZE ${sql.identifier(SHADOW_TABLE)}`);
    const halfvec = await sizes(db, SHADOW_TABLE);
    const switched = performance.now();
    await switchSets(db.db, "switch");
    const switchMs = performance.now() - switched;
    const halfvecSearch = await searchRecall(deps, exact);
    const halfvecExact = await exactTopK(db, "embeddings", queries, "halfvec");
    const exactRecall = mean(halfvecExact.map((found, q) => recall(found, exact[q]!)));
    return { n, float32, halfvec: { ...halfvec, ...halfvecSearch, exactRecall }, copied: made.copied, shadowSeconds, switchMs };
  } finally {
    await db.close();
  }
}

/** Searches throughout a switch of `n` rows from model A (1536, vector) to B (768, halfvec). */
export async function switchBench(n: number) {
  const db = await openBenchDatabase();
  try {
    const points = latentPoints(n + QUERIES, 3);
    const a = projection(1536, 4);
    const b = projection(768, 5);
    const aRows = points.slice(0, n).map((z, i) => a(z, 1000 + i));
    const bRows = points.slice(0, n).map((z, i) => b(z, 5_000_000 + i));
    const aQueries = points.slice(n).map((z, i) => a(z, 9_000_000 + i));
    const bQueries = points.slice(n).map((z, i) => b(z, 9_500_000 + i));
    await load(db, "bench-a", aRows);
    const embedderA = queryEmbedder("bench-a", aQueries);
    const embedderB = queryEmbedder("bench-b", bQueries);
    const deps = benchDeps(db, embedderA, embedderB);
    const exactA = await exactTopK(db, "embeddings", aQueries, "vector");
    await createShadow(db.db, { model: "bench-b", dimensions: 768, storage: "halfvec" }, embedderA);
    await db.db.execute(sql`DELETE FROM embedding_queue`);

    // Searches run throughout on two connections' worth of concurrency, each checked against the
    // exact results of the model that answered it.
    let phase = "filling";
    let exactB: string[][] | undefined;
    let running = true;
    const answers: { phase: string; ms: number; recall: number; model: string }[] = [];
    const errors: string[] = [];
    const searcher = async (offset: number) => {
      for (let q = offset; running; q = (q + 2) % QUERIES) {
        const at = phase;
        const started = performance.now();
        try {
          const answer = await search(deps, { query: String(q), limit: K, minScore: -1, mode: "vector" }, "admin");
          const ms = performance.now() - started;
          const ids = answer.results.map((r) => r.contentId);
          // Against the exact results of the model that answered (the last to embed its query).
          const byB = lastModel.get(String(q)) === "bench-b";
          answers.push({ phase: at, ms, recall: recall(ids, (byB ? exactB! : exactA)[q]!), model: byB ? "B" : "A" });
        } catch (error) {
          errors.push(`${at}: ${(error as Error).message}`);
        }
      }
    };
    const searchers = [searcher(0), searcher(1)];
    const fillStarted = performance.now();
    for (let i = 0; i < n; i += 500) {
      const rows = bRows.slice(i, i + 500).map((embedding, j) => ({
        contentType: "post",
        contentId: id(i + j),
        chunkIndex: 0,
        text: text(i + j),
        hash: `b${i + j}`,
        textConfig: "english",
        embedding,
      }));
      await db.db.transaction((tx) => upsertChunks(tx, rows, { model: "bench-b", dimensions: 768 }, SHADOW_TABLE));
    }
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    await db.db.execute(sql`ANALYZE ${sql.identifier(SHADOW_TABLE)}`);
    exactB = await exactTopK(db, SHADOW_TABLE, bQueries, "halfvec");
    const blockers = new Map<string, Set<string>>();
    const vacuums: number[] = [];
    const timed = async (direction: "switch" | "rollback", after: string) => {
      phase = `${direction}ing`;
      // What any session waiting for a lock meanwhile waits behind (the switch, or searches behind it).
      const watch = watchSessionWaits(db);
      // As `npm run model -- switch` does: the set about to serve vacuumed first, outside the switch.
      const prepared = performance.now();
      await prepareSwitch(db.db);
      vacuums.push(performance.now() - prepared);
      const started = performance.now();
      await switchSets(db.db, direction);
      phase = after;
      const ms = performance.now() - started;
      blockers.set(`${direction} → ${after}`, (await watch.stop()).blockers);
      await new Promise((resolve) => setTimeout(resolve, 3000));
      return ms;
    };
    // The pipeline's writes go on meanwhile: batches of 100 rows rewritten into the serving set with
    // its model's vectors, each in its own transaction (as processItems does, the sets read first).
    let writing = true;
    const writes = { batches: 0, retried: [] as string[] };
    const writer = (async () => {
      for (let i = 0; writing; i = (i + 100) % n) {
        try {
          await db.db.transaction(async (tx) => {
            const byB = (await readSets(tx)).serving?.model === "bench-b";
            const rows = (byB ? bRows : aRows).slice(i, i + 100).map((embedding, j) => ({
              contentType: "post",
              contentId: id(i + j),
              chunkIndex: 0,
              text: text(i + j),
              hash: `${byB ? "b" : "h"}${i + j}`,
              textConfig: "english",
              embedding,
            }));
            await upsertChunks(tx, rows, byB ? { model: "bench-b", dimensions: 768 } : { model: "bench-a", dimensions: 1536 });
          });
          writes.batches++;
        } catch (error) {
          // A switch committed between the sets' read and the write: the pipeline's run is retried.
          const cause = ((error as Error).cause as Error | undefined) ?? (error as Error);
          writes.retried.push(`${phase}: ${cause.message.slice(0, 120)}`);
        }
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const switchMs = await timed("switch", "switched");
    const rollbackMs = await timed("rollback", "rolled back");
    const switchAgainMs = await timed("switch", "switched again");
    running = false;
    writing = false;
    await Promise.all([...searchers, writer]);
    const byPhase = new Map<string, typeof answers>();
    for (const answer of answers) byPhase.set(answer.phase, [...(byPhase.get(answer.phase) ?? []), answer]);
    const phases = [...byPhase].map(([name, list]) => ({
      phase: name,
      searches: list.length,
      "answered by": [...new Set(list.map((x) => x.model))].join("+"),
      recall: Number(mean(list.map((x) => x.recall)).toFixed(3)),
      minRecall: Math.min(...list.map((x) => x.recall)),
      p50: Number(
        percentile(
          list.map((x) => x.ms),
          50,
        ).toFixed(1),
      ),
      p95: Number(
        percentile(
          list.map((x) => x.ms),
          95,
        ).toFixed(1),
      ),
    }));
    const waits = Object.fromEntries([...blockers].map(([name, seen]) => [name, [...seen]]));
    return { n, fillSeconds, switchMs, rollbackMs, switchAgainMs, vacuums, errors, phases, waits, writes };
  } finally {
    await db.close();
  }
}
