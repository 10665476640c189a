// Drain throughput against what the database takes (an embeddings API answering after 50 ms from
// vectors computed before the timed parts, in a process of its own: bench/cached-openai.ts), in one
// run per size, on BENCH_DATABASE_URL's
// PostgreSQL (PGlite when unset):
//   1. the drain's first load (`drainBacklog`: no index while loading; the index build apart), profiled,
//      by binary COPY on a server, then the same by the upsert (the functions' writer);
//   2. the limits: COPY … FROM STDIN of the same rows into the same table, without and with the HNSW
//      index, COPY in the binary format without it, and the index built at the server's default settings;
//   3. the steady state: the drain into the indexed table against a plain multi-row INSERT of the same rows;
//   4. an edit pass: 5% of the rows edited, drained into the indexed table.
import { sql } from "drizzle-orm";
import { loadConfig } from "../functions/config";
import { dropHnswIndex } from "../functions/db/hnsw-index";
import type { Deps } from "../functions/deps";
import { drain } from "../functions/drain";
import { OPENAI_LIMITS } from "../functions/embedders/embedder";
import { openaiEmbedder } from "../functions/embedders/openai";
import { communityPost, HNSW_INDEX } from "../schema";
import { createRegistry } from "../schema/registry";
import { backfill } from "../scripts/lib/backfill";
import { copyBinary } from "../scripts/lib/copy-binary";
import { EMBEDDING_COLUMNS, embeddingFields, textConfigOids } from "../scripts/lib/copy-writer";
import { drainBacklog } from "../scripts/lib/initial-load";
import { type BenchDatabase, benchServerUrl, copyText, openBenchDatabase } from "./bench-database";
import { startCachedOpenAI, warmDrain } from "./cached-openai";
import { realisticText, seededRandom } from "./corpus";
import { type DrainProfile, profileDrain } from "./drain-profile";

/** Rows per statement of the plain INSERT. */
const INSERT_ROWS = 500;

export type DrainThroughput = Awaited<ReturnType<typeof drainThroughput>>;

export async function drainThroughput(n: number, latencyMs = 50) {
  const database = await openBenchDatabase();
  const api = await startCachedOpenAI(latencyMs);
  const random = seededRandom(n);
  const { db } = database;
  const seconds = async (work: () => Promise<unknown>) => {
    const started = performance.now();
    await work();
    return (performance.now() - started) / 1000;
  };
  try {
    for (let i = 0; i < n; i += 1000) {
      await db
        .insert(communityPost)
        .values(Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ title: `Post ${i + j}`, body: realisticText(random) })));
    }
    const registry = createRegistry();
    const warmed = await warmDrain(api, db, registry);
    const profiler = benchServerUrl ? profileDrain() : undefined;
    // base64, as the pipeline asks api.openai.com (config.ts `encodingFor`).
    const embedder = openaiEmbedder({
      apiKey: "test-openai-key",
      baseURL: api.url,
      model: "text-embedding-3-small",
      dimensions: 1536,
      encoding: "base64",
    });
    const deps: Deps = {
      db,
      registry,
      config: loadConfig({ DRAIN_BATCH_SIZE: "1000" }),
      embedder: profiler ? profiler.timedEmbedder(embedder) : embedder,
    };
    const drainAll = async (using = deps) => {
      while ((await drain(using, { budgetMs: 600_000 })).remaining > 0);
    };

    // 1. The first load, as `npm run backfill -- --drain` does it (the triggers queued the rows).
    let load!: Awaited<ReturnType<typeof drainBacklog>>;
    const loadTotalSeconds = await seconds(async () => {
      load = await drainBacklog(deps, benchServerUrl ? { copySession: database.copySession } : { maintenanceWorkMem: "512MB" });
    });
    let profile: DrainProfile | undefined = profiler?.stop();
    if (profile) profile = { ...profile, wallMs: profile.wallMs - load.indexSeconds * 1000 };
    const firstPass = summarize(await api.requests(), n);
    const lines = (
      await database.query<Record<string, unknown>>(
        // Every column as its text form, the one COPY's text format reads (a jsonb or a date read as a value would not print so).
        `SELECT ${EMBEDDING_COLUMNS.map((c) => `${c}::text AS ${c}`).join(", ")} FROM embeddings ORDER BY id`,
      )
    ).map((row) => EMBEDDING_COLUMNS.map((c) => copyText(row[c])).join("\t"));
    const rows = lines.length;

    // 1b. The same first load by the upsert (the functions' writer), on a server where the first went by COPY.
    let upsertLoad: { rowsPerSecond: number } | undefined;
    if (database.copySession) {
      await db.execute(sql`TRUNCATE embeddings`);
      await backfill(db, deps.registry.byType("post")!);
      let indexSeconds = 0;
      const total = await seconds(async () => {
        ({ indexSeconds } = await drainBacklog(deps));
      });
      upsertLoad = { rowsPerSecond: rows / (total - indexSeconds) };
    }

    // 2. The limits, and the index built with the server's defaults on the same rows.
    await dropHnswIndex(db);
    const defaultIndexSeconds = await seconds(() => createIndex(database));
    await db.execute(sql`TRUNCATE embeddings`);
    await dropHnswIndex(db);
    const copySeconds = await seconds(() => database.copyIn("embeddings", EMBEDDING_COLUMNS, lines));
    await db.execute(sql`TRUNCATE embeddings`);
    const oid = await textConfigOids(db, ["english", "simple"], new Map());
    const binary = copyBinary(lines.map((line) => binaryFields(line, oid)));
    const copyBinarySeconds = await seconds(() => database.copyInBinary("embeddings", EMBEDDING_COLUMNS, binary));
    await db.execute(sql`TRUNCATE embeddings`);
    await createIndex(database);
    const copyIndexedSeconds = await seconds(() => database.copyIn("embeddings", EMBEDDING_COLUMNS, lines));

    // 3. The steady state: into the indexed table, the drain against a plain multi-row INSERT.
    await db.execute(sql`TRUNCATE embeddings`);
    await backfill(db, deps.registry.byType("post")!);
    const steadyProfiler = benchServerUrl ? profileDrain() : undefined;
    const steadyDeps = steadyProfiler ? { ...deps, embedder: steadyProfiler.timedEmbedder(embedder) } : deps;
    const drainSeconds = await seconds(() => drainAll(steadyDeps));
    const steadyProfile = steadyProfiler?.stop();
    await db.execute(sql`TRUNCATE embeddings`);
    const parsed = lines.map((line) => line.split("\t"));
    const insertSeconds = await seconds(async () => {
      for (let i = 0; i < parsed.length; i += INSERT_ROWS) {
        const batch = parsed.slice(i, i + INSERT_ROWS);
        const placeholders = batch
          .map((_, r) => `(${EMBEDDING_COLUMNS.map((_, c) => `$${r * EMBEDDING_COLUMNS.length + c + 1}`).join(", ")})`)
          .join(", ");
        await database.query(
          `INSERT INTO embeddings (${EMBEDDING_COLUMNS.join(", ")}) VALUES ${placeholders}`,
          batch.flatMap((row) => row.map(unCopyText)),
        );
      }
    });

    const steadyMisses = summarize(await api.requests(), n).misses - firstPass.misses;

    // 4. An edit pass: 5% of the rows edited, drained into the indexed table.
    await api.reset();
    const edited = Math.round(n * 0.05);
    await db.execute(
      sql`UPDATE community_post SET body = body || ' Edited.' WHERE id IN (SELECT id FROM community_post ORDER BY id LIMIT ${edited})`,
    );
    await warmDrain(api, db, registry);
    const editSeconds = await seconds(() => drainAll());
    const edit = summarize(await api.requests(), edited);

    const loadSeconds = loadTotalSeconds - load.indexSeconds;
    return {
      n,
      rows,
      profile,
      steadyProfile,
      firstLoad: {
        rowsPerSecond: rows / loadSeconds,
        indexSeconds: load.indexSeconds,
        withIndexRowsPerSecond: rows / loadTotalSeconds,
        upsertRowsPerSecond: upsertLoad?.rowsPerSecond,
      },
      copy: {
        rowsPerSecond: rows / copySeconds,
        binaryRowsPerSecond: rows / copyBinarySeconds,
        indexedRowsPerSecond: rows / copyIndexedSeconds,
      },
      defaultIndexSeconds,
      steady: { drainRowsPerSecond: rows / drainSeconds, insertRowsPerSecond: rows / insertSeconds },
      edit: { rows: edited, seconds: editSeconds, msPerRow: (editSeconds * 1000) / edited, inputs: edit.inputs, tokens: edit.tokens },
      firstPass,
      warmed,
      /** Texts the API had not been warmed with (computed on the spot): 0 when the warm-up covered the drain. */
      misses: firstPass.misses + steadyMisses + edit.misses,
    };
  } finally {
    await api.close();
    await database.close();
  }
}

/** The index as the schema declares it, built with the session's defaults (the server's settings). */
const createIndex = (database: BenchDatabase) =>
  database.query(`CREATE INDEX ${HNSW_INDEX} ON embeddings USING hnsw (embedding vector_cosine_ops)`);

/** A row of COPY text (the columns of EMBEDDING_COLUMNS) as the binary format's fields. */
function binaryFields(line: string, oid: (name: string) => number) {
  const [contentType, contentId, chunkIndex, text, hash, model, dimensions, vector, textConfig] = line
    .split("\t")
    .map(unCopyText) as string[];
  const row = {
    contentType: contentType!,
    contentId: contentId!,
    chunkIndex: Number(chunkIndex),
    text: text!,
    hash: hash!,
    textConfig: textConfig!,
  };
  return embeddingFields({ ...row, embedding: JSON.parse(vector!) as number[] }, { model: model!, dimensions: Number(dimensions) }, oid);
}

const unCopyText = (value: string) =>
  value === "\\N" ? null : value.replace(/\\([\\ntr])/g, (_, c: string) => ({ n: "\n", t: "\t", r: "\r" })[c] ?? c);

function summarize(requests: { inputs: number; tokens: number; misses: number }[], items: number) {
  const misses = requests.reduce((s, r) => s + r.misses, 0);
  const inputs = requests.reduce((s, r) => s + r.inputs, 0);
  const tokens = requests.reduce((s, r) => s + r.tokens, 0);
  const minimum = Math.max(Math.ceil(inputs / OPENAI_LIMITS.maxInputs), Math.ceil(tokens / OPENAI_LIMITS.maxTokens));
  return {
    requests: requests.length,
    misses,
    minimumRequests: minimum,
    inputs,
    tokens,
    per1000: { requests: (requests.length * 1000) / items, inputs: (inputs * 1000) / items, tokens: (tokens * 1000) / items },
  };
}
