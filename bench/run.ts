// `npm run bench [status]` loads 1,000,000 queue rows and times the status page; `[batch]`, `[batchlive]` and `[efsearch]` are also outside the default set.
// `npm run bench [throughput] [insert] [index] [latency] [doorbells] [webhooks] [day] [ratelimit] [search] [labelled] [memory] [hnsw] [bundles] [halfvec] [switch] [cost]`: runs the benchmarks (all by
// default) and prints their figures. Sizes: BENCH_DRAIN_SIZES (1000,5000,20000), BENCH_SEARCH_SIZES
// (10000,50000; on PostgreSQL 10000,100000), BENCH_MEMORY_SIZES (500,5000). On the PostgreSQL server
// BENCH_DATABASE_URL names when set (a fresh database per benchmark, the doorbells' too), PGlite otherwise. See BENCHMARKS.md.
import { cpus, loadavg } from "node:os";
import { buildEdgeBundles } from "../scripts/build-edge";
import { batchApiBench } from "./batch-api";
import { batchLive } from "./batch-live";
import { benchDatabaseLabel, benchServerUrl } from "./bench-database";
import { costLedger } from "./cost";
import { doorbells } from "./doorbells";
import { drainMemory } from "./drain-memory";
import { profileRows } from "./drain-profile";
import { drainThroughput } from "./drain-throughput";
import { efSearchSweep } from "./ef-search";
import { hnswVariants } from "./hnsw-variants";
import { indexBuild } from "./index-build";
import { labelledSearch } from "./labelled-search";
import { laneLatency } from "./lane-latency";
import { halfvecBench, switchBench } from "./model-switch";
import { benchParts } from "./parts";
import { rateLimit } from "./rate-limit";
import { searchLatency } from "./search-latency";
import { statementBuilding } from "./statement-building";
import { statusPageAtSize } from "./status-page";
import { webhookDay, webhookDriver } from "./webhook-driver";

const DEFAULT_PARTS = [
  "throughput",
  "latency",
  "doorbells",
  "webhooks",
  "day",
  "ratelimit",
  "search",
  "labelled",
  "memory",
  "hnsw",
  "bundles",
  "halfvec",
  "switch",
  "cost",
];
const PARTS = [...DEFAULT_PARTS, "insert", "index", "status", "batch", "batchlive", "efsearch"];
const wanted = new Set(process.argv.slice(2).length ? process.argv.slice(2) : DEFAULT_PARTS);
const unknown = [...wanted].filter((name) => !PARTS.includes(name));
if (unknown.length) {
  console.error(`No benchmark named ${unknown.join(", ")}. The parts: ${PARTS.join(", ")}.`);
  process.exit(1);
}
const sizes = (name: string, fallback: string) => (process.env[name] ?? fallback).split(",").map(Number);
const round = (x: number, digits = 1) => Number(x.toFixed(digits));
const { part, summary } = benchParts(wanted);
console.log(
  `qstash-embeddings benchmarks — ${new Date().toISOString()} — ${cpus().length} cores, Node ${process.version}, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
console.log(summary());

// Issue 24: halfvec against float32, and searches throughout a model switch (bench/model-switch.ts).
await part("halfvec", async () => {
  for (const n of sizes("BENCH_HALFVEC_SIZES", "20000")) {
    const r = await halfvecBench(n);
    console.log(
      `halfvec against float32, ${n} rows of 1536 dimensions (${benchDatabaseLabel}, ${r.copied} copied in ${round(r.shadowSeconds)} s, switch ${round(r.switchMs)} ms):`,
    );
    console.table(
      [
        ["float32 (vector)", r.float32, "-"],
        ["halfvec", r.halfvec, round(r.halfvec.exactRecall, 4)],
      ].map(([name, x, exact]) => {
        const s = x as typeof r.float32;
        return {
          storage: name,
          "table MB (with TOAST)": round(s.heapMB),
          "HNSW MB": round(s.hnswMB),
          "table + indexes MB": round(s.totalMB),
          "share of float32": round(s.totalMB / r.float32.totalMB, 3),
          "search recall@10 vs float32 exact (min)": `${round(s.recall, 4)} (${s.minRecall})`,
          "exact scan recall@10": exact,
          "search p50 / p95 ms": `${round(s.p50)} / ${round(s.p95)}`,
        };
      }),
    );
  }
});
await part("switch", async () => {
  const r = await switchBench(Number(process.env.BENCH_SWITCH_SIZE ?? 20000));
  console.log(
    `A model switch of ${r.n} rows (${benchDatabaseLabel}): shadow filled in ${round(r.fillSeconds)} s; switch ${round(r.switchMs)} ms, rollback ${round(r.rollbackMs)} ms, switch again ${round(r.switchAgainMs)} ms (each after VACUUM (ANALYZE) of the set about to serve: ${r.vacuums.map((ms) => round(ms)).join(", ")} ms); ${r.errors.length} searches failed${r.errors.length ? `: ${r.errors.slice(0, 3).join("; ")}` : ""}`,
  );
  console.table(r.phases);
  console.log(
    `Writes during the switches: ${r.writes.batches} batches of 100 rows written, ${r.writes.retried.length} failed (to retry)${r.writes.retried.length ? `: ${r.writes.retried.slice(0, 3).join("; ")}` : ""}`,
  );
  console.log("What sessions waiting for a lock waited behind, during each switch:");
  for (const [name, seen] of Object.entries(r.waits)) console.log(`  ${name}: ${seen.length ? seen.join(" | ") : "nothing seen"}`);
});
await part("cost", async () => {
  const results = [];
  for (const n of sizes("BENCH_COST_SIZES", "2000")) results.push(await costLedger(n));
  console.log(`Cost ledger, estimate and budget (${benchDatabaseLabel}, fake OpenAI; tokens):`);
  console.table(
    results.map((r) => ({
      posts: r.n,
      estimate: r.estimateTokens,
      ledger: r.ledgerTokens,
      served: r.servedTokens,
      "ledger vs served %": round(r.ledgerVsServedPct, 2),
      "estimate vs ledger %": round(r.estimateVsLedgerPct, 2),
      "ledger $": round(r.ledgerUsd, 6),
      cap: r.cap,
      "spent under cap": r.cappedSpent,
      "largest request": r.largestRequest,
      "left waiting": r.pendingAfterCap,
      failed: r.failedAfterCap,
    })),
  );
});
await part("batch", async () => {
  const r = await batchApiBench(Number(process.env.BENCH_BATCH_SIZE ?? 20000));
  console.log(
    `A ${r.n}-post backfill, live and through the Batch API path (${benchDatabaseLabel}, fake OpenAI; ${r.batch.batches} batches, ${r.batch.runs} runs of the batches function):`,
  );
  console.table({
    live: {
      tokens: r.live.tokens,
      inputs: r.live.inputs,
      "USD (ledger)": r.live.usd,
      "chunks stored": r.live.stored,
      seconds: round(r.live.seconds),
    },
    batch: {
      tokens: r.batch.tokens,
      inputs: r.batch.inputs,
      "USD (ledger)": r.batch.usd,
      "chunks stored": r.batch.stored,
      seconds: round(r.batch.seconds),
    },
  });
  console.log(
    `  batch / live money: ${r.ratio} (tokens ${r.batch.tokens === r.live.tokens ? "equal" : `differ by ${r.batch.tokens - r.live.tokens}`}); the fake billed ${r.fakeBatchTokens} batch tokens; live after the batches: ${r.liveAfterBatches.tokens} tokens`,
  );
});
await part("batchlive", async () => {
  const r = await batchLive(
    Number(process.env.BENCH_BATCHLIVE_SIZE ?? 20000),
    Number(process.env.BENCH_BATCHLIVE_SAMPLES ?? 100),
    Number(process.env.BENCH_BATCHLIVE_GAP ?? 40),
    process.env.BENCH_BATCHLIVE_PATH === "drain" ? "drain" : "batch",
  );
  const side = r.path === "drain" ? "the drain" : "the batches function";
  const pair = (x: { p50: number; p95: number }) => `${round(x.p50, 0)} / ${round(x.p95, 0)}`;
  console.log(
    `Live changes during a ${r.n}-post backfill through ${r.path === "drain" ? "the drain (the default path)" : "the Batch API path"} (${benchDatabaseLabel}, local stack, 50 ms API, EMBEDDING_BATCH_API=${r.path === "batch"}; ${side} ${r.inProcess ? "in this process" : `in a process of its own${process.env.BENCH_BATCHLIVE_NICE === "0" ? "" : " at nice 19"}`}), change → searchable; changes made all along, "during" while one of its runs ran, "without" in ${r.samples} pairs before, ${r.gap} between two runs and ${r.samples} after:`,
  );
  console.table(
    Object.fromEntries(
      (["immediate", "queued"] as const).map((lane) => {
        const x = r.lanes[lane];
        return [
          lane === "immediate" ? "immediate (courses)" : "queued (posts)",
          {
            "without n, p50 / p95 ms": `${x.without.n}, ${pair(x.without)}`,
            "during n, p50 / p95 ms": `${x.during.n}, ${pair(x.during)}`,
            "p95 during / without [90%]": `${round(x.ratio, 2)} [${round(x.low, 2)}, ${round(x.high, 2)}]`,
            "without: p95 2nd half / 1st": round(x.halves, 2),
          },
        ];
      }),
    ),
  );
  console.log(`  the changes made during it, by what ${side} was doing then (n, p50 / p95 ms):`);
  console.table(
    Object.fromEntries(
      (["immediate", "queued"] as const).map((lane) => [
        lane,
        Object.fromEntries(Object.entries(r.phases[lane]).map(([phase, x]) => [phase, `${x.n}, ${pair(x)}`])),
      ]),
    ),
  );
  for (const lane of ["immediate", "queued"] as const) {
    const s = r.slow[lane];
    console.log(
      `  ${lane}: ${s.slow.length} changes during it slower than the p95 without (s: ms, phase): ${s.slow.map((c) => `${round(c.at)}: ${c.ms} ${c.phase}`).join("; ")}`,
    );
    console.log(`    ${side}'s sessions beside them (changes): ${s.statements.map(([what, k]) => `${k} × ${what}`).join(" | ")}`);
  }
  console.log(
    `  the backfill: ${r.queuedRows} rows queued, ${r.backfill.batches} batches, ${r.backfill.stored} rows stored (${r.backfill.returned} given back to the live lanes) by ${r.backfill.runs} runs lasting ${round(r.backfill.runSeconds)} s (${round(r.backfill.yieldedMs / 1000)} s of it the store waiting for the live lanes) of the ${round(r.backfill.seconds)} s${r.backfill.cpuSeconds === undefined ? "" : ` (its process used ${round(r.backfill.cpuSeconds)} s of CPU)`}; rows stored (s: rows): ${r.window.stored.map((p) => `${round(p.seconds, 0)}: ${p.stored}`).join(", ")}`,
  );
  console.log(
    `  ${side}'s runs (start s: sent / stored rows, run s): ${r.runs.map((run) => `${round(run.at)}: ${run.sentRows} / ${run.stored}, ${round(run.ms / 1000)}`).join("; ")}`,
  );
  if (r.waits.samples) {
    const events = [...r.waits.events].sort((a, b) => b[1] - a[1]).map(([event, n]) => `${event} ${round(n / r.waits.samples, 2)}`);
    console.log(
      `  the database's active sessions during the backfill, on average per sample (${r.waits.samples} samples): ${events.join(", ")}`,
    );
    console.log(`  lock waits seen: ${r.waits.blockers.size ? [...r.waits.blockers].join(" | ") : "none"}`);
  }
});
await part("throughput", async () => {
  const results = [];
  for (const n of sizes("BENCH_DRAIN_SIZES", "1000,5000,20000")) {
    results.push(await drainThroughput(n));
    console.log(`  (done: ${n} items; the tables follow after the last size)`);
  }
  console.log(`Drain against the limits (${benchDatabaseLabel}, 50 ms API, rows per second; ratios measured in the same run):`);
  console.table(
    results.map((r) => ({
      items: r.n,
      rows: r.rows,
      "COPY, no index": round(r.copy.rowsPerSecond),
      "first load": round(r.firstLoad.rowsPerSecond),
      "first load / COPY": round(r.firstLoad.rowsPerSecond / r.copy.rowsPerSecond, 2),
      "first load by the upsert": r.firstLoad.upsertRowsPerSecond ? round(r.firstLoad.upsertRowsPerSecond) : "-",
      "COPY binary, no index": round(r.copy.binaryRowsPerSecond),
      "first load / COPY binary": round(r.firstLoad.rowsPerSecond / r.copy.binaryRowsPerSecond, 2),
      "index build s (server defaults)": `${round(r.firstLoad.indexSeconds)} (${round(r.defaultIndexSeconds)})`,
      "COPY, HNSW": round(r.copy.indexedRowsPerSecond),
      "INSERT, HNSW": round(r.steady.insertRowsPerSecond),
      "drain, HNSW": round(r.steady.drainRowsPerSecond),
      "drain / INSERT": round(r.steady.drainRowsPerSecond / r.steady.insertRowsPerSecond, 2),
      "drain / COPY, HNSW": round(r.steady.drainRowsPerSecond / r.copy.indexedRowsPerSecond, 2),
    })),
  );
  console.log("API use and the 5% edit pass:");
  console.table(
    results.map((r) => ({
      items: r.n,
      "requests (min)": `${r.firstPass.requests} (${r.firstPass.minimumRequests})`,
      "tokens/1k items": Math.round(r.firstPass.per1000.tokens),
      "edit: rows / inputs / tokens": `${r.edit.rows} / ${r.edit.inputs} / ${r.edit.tokens}`,
      "edit s": round(r.edit.seconds, 2),
      "edit ms/row": round(r.edit.msPerRow, 1),
    })),
  );
  for (const r of results) {
    if (!r.profile) continue;
    console.log(`Where the first load's time goes, ${r.n} items (index build excluded):`);
    console.table(profileRows(r.profile, r.n));
  }
  for (const r of results) {
    if (!r.steadyProfile) continue;
    console.log(`Where the steady-state drain's time goes (HNSW index in place), ${r.n} items:`);
    console.table(profileRows(r.steadyProfile, r.n));
  }
});
await part("insert", async () => {
  console.log(
    `Writing 1,000 dense embeddings: the drain's INSERT before and now, COPY as text and binary (${benchDatabaseLabel}, same rows, same run):`,
  );
  console.table(await statementBuilding(1000, Number(process.env.BENCH_INSERT_ROUNDS ?? 5)));
});
await part("index", async () => {
  for (const n of sizes("BENCH_INDEX_SIZES", "20000")) {
    const r = await indexBuild(n);
    console.log(`HNSW index build of ${n} vectors (${benchDatabaseLabel}), the server's settings and the build's tuned ones:`);
    console.table({ server: r.server, tuned: r.tuned });
    console.table({
      [n]: {
        "defaults s (first / again)": `${round(r.defaultsSeconds[0]!)} / ${round(r.defaultsSeconds[1]!)}`,
        "tuned s": round(r.tunedSeconds),
        "speed-up (faster default / tuned)": round(r.speedup, 2),
        "no parallel workers s": round(r.serialSeconds),
        "workers requested at the defaults": r.defaultWorkers ?? "?",
      },
    });
  }
});
await part("latency", async () => {
  const r = await laneLatency();
  console.log("Change → searchable (local stack, 50 ms API), ms:");
  const ms = (x: { p50: number; p95: number }) => ({ "p50 ms": round(x.p50, 0), "p95 ms": round(x.p95, 0) });
  console.table({ "immediate (p1–2)": ms(r.immediate), "queued (p3–4)": ms(r.queued), "batched (p5+)": ms(r.batched) });
  console.log(`  (batched: its doorbell at the minute's end plus one run; a drain of 50 items took ${round(r.batched.drainOf50Ms, 0)} ms)`);
});
await part("doorbells", async () => {
  const server = process.env.BENCH_DATABASE_URL;
  const r = await doorbells(server);
  const ms = (x: { p50: number; p95: number; max: number }) => ({
    "p50 ms": round(x.p50, 0),
    "p95 ms": round(x.p95, 0),
    "max ms": round(x.max, 0),
  });
  console.log(
    `Doorbells on the local stack (${server ? "PostgreSQL at BENCH_DATABASE_URL" : "PGlite"}), Free plan emulator (triggers forwarded to enqueue, 50 ms API):`,
  );
  console.table({ "one change (course)": ms(r.single), "100 courses in one INSERT": ms(r.hundred) });
  console.log(
    `  burst of 1,000 changes (600 courses + 400 posts at once): ${r.burst.messages} QStash messages, all searchable in ${round(r.burst.allSearchableMs, 0)} ms (p95 ${round(r.burst.p95, 0)} ms)`,
  );
  console.log(
    `  idle day (schedules only, arithmetic): ${round(r.idleDay.triggersOnly)} messages with the default drain cron, ${round(r.idleDay.withDoorbells)} with DRAIN_CRON="*/10 * * * *"`,
  );
});
await part("webhooks", async () => {
  const server = process.env.BENCH_DATABASE_URL;
  const r = await webhookDriver(
    Number(process.env.BENCH_BURST_ROWS ?? 1000),
    Number(process.env.BENCH_BURST_SECONDS ?? 60),
    server,
    process.env.BENCH_ISOLATED !== "0",
  );
  console.log(
    `Per-row webhook driver (one enqueue call per row; ${server ? "PostgreSQL at BENCH_DATABASE_URL" : "PGlite"}, Free plan emulator, QStash back-off, 50 ms API, CHANGES_VIA=enqueue):`,
  );
  console.table(
    Object.fromEntries(
      Object.entries(r.isolated).map(([what, x]) => [
        what,
        { "messages published": x.messages, deliveries: x.deliveries, "searchable ms": round(x.ms, 0) },
      ]),
    ),
  );
  const b = r.burst;
  const ms = (x: { n: number; p50: number; p95: number; max: number }) => ({
    rows: x.n,
    "p50 ms": round(x.p50, 0),
    "p95 ms": round(x.p95, 0),
    "max ms": round(x.max, 0),
  });
  console.log(
    `  ${b.rows} rows in ${b.seconds} s, each its own enqueue call: ${b.messages} messages published (${Object.entries(b.byLane)
      .map(([lane, n]) => `${lane}: ${n}`)
      .join(", ")}), ${b.deliveries} deliveries; ${b.searchable} searchable, the last ${round(b.allWithinMs / 1000)} s after its change`,
  );
  console.table({ "courses (p2)": ms(b.courses), "posts (p4)": ms(b.posts), "comments (p5)": ms(b.comments) });
  console.log(
    `  idle day (schedules only): ${round(r.idleDay.enqueueCalled)} messages where enqueue is called, ${round(r.idleDay.triggersOnly)} trigger-only`,
  );
});
await part("day", async () => {
  const r = await webhookDay(Number(process.env.BENCH_DAY_CHANGES ?? 1000), process.env.BENCH_DATABASE_URL);
  console.log(
    `A day of isolated course changes, evenly spread (shifted clock; per-row webhook driver; ${process.env.BENCH_DATABASE_URL ? "PostgreSQL" : "PGlite"}, Free plan):`,
  );
  console.table({ [`${r.changes} changes`]: r });
});
await part("ratelimit", async () => {
  const r = await rateLimit(Number(process.env.BENCH_TPM ?? 150_000), Number(process.env.BENCH_RATE_SECONDS ?? 120));
  console.log(`Rate limit (${r.tokensPerMinute} tokens/min enforced with 429s, learnt from headers, ${round(r.seconds, 0)} s):`);
  console.table({
    result: {
      "sustained share of limit": `${round(r.sustainedShare * 100)}%`,
      "429 share": `${round(r.share429 * 100)}%`,
      requests: r.requests,
      "failed items": r.failedItems,
    },
  });
});
await part("search", async () => {
  const rows = [];
  const modes = [];
  const recall = [];
  for (const n of sizes("BENCH_SEARCH_SIZES", benchServerUrl ? "10000,100000" : "10000,50000")) {
    const r = await searchLatency(n);
    console.log(`  (done: ${n} vectors; the tables follow after the last size)`);
    rows.push({
      vectors: n,
      "index build s (server defaults)": `${round(r.indexBuildSeconds)} (${r.defaultIndexSeconds === undefined ? "not run" : round(r.defaultIndexSeconds)})`,
      "uses HNSW": r.usesIndex,
      "statement p50 / p95 ms": `${round(r.databaseMs.p50)} / ${round(r.databaseMs.p95)}`,
      "execution p50 / p95 ms": `${round(r.executionMs.p50)} / ${round(r.executionMs.p95)}`,
      "e2e p50 ms": round(r.endToEndMs.p50),
      "e2e p95 ms": round(r.endToEndMs.p95),
      "courses only e2e p50 / p95 ms": `${round(r.filteredMs.p50)} / ${round(r.filteredMs.p95)}`,
    });
    const pair = (x: { p50: number; p95: number }) => `${round(x.p50)} / ${round(x.p95)}`;
    modes.push(
      ...(
        [
          ["60 characters", r.keyword, r.hybridMs],
          ["two words", r.keywordTwoWords, r.hybridTwoWordsMs],
        ] as const
      ).map(([queries, k, hybrid]) => ({
        vectors: n,
        queries,
        "chunks ranked p50 / p95": pair(k.matchedChunks),
        "keyword statement p50 / p95 ms": pair(k.statementMs),
        "keyword execution p50 / p95 ms": pair(k.executionMs),
        "keyword e2e p50 / p95 ms": pair(k.endToEndMs),
        "hybrid e2e p50 / p95 ms (vector searched before)": pair(hybrid),
        "query embedding p50 ms": round(r.embedQueryMs.p50, 2),
      })),
    );
    console.log(
      `(${n} chunks: a query vector never searched before, two words, e2e p50 / p95: vector ${pair(r.freshVectorMs)} ms, hybrid ${pair(r.freshHybridMs)} ms)`,
    );
    console.log(
      `(${n} chunks: two-word keyword statement with every match ranked, as before the rank limit: execution p50 / p95 ${round(r.uncappedTwoWordsExecutionMs.p50)} / ${round(r.uncappedTwoWordsExecutionMs.p95)} ms)`,
    );
    recall.push(
      ...r.filteredRecall.map((f) => ({
        chunks: n,
        "filter keeps": `${f.share} (${f.rows} rows)`,
        "recall@10 mean (min)": `${f.recallAt10.toFixed(3)} (${f.minRecall.toFixed(2)})`,
        "e2e p50 / p95 ms": `${round(f.ms.p50)} / ${round(f.ms.p95)}`,
      })),
    );
  }
  console.log(`Search, top 10 (${benchDatabaseLabel}):`);
  console.table(rows);
  console.log(`Keyword and hybrid search, top 10 (${benchDatabaseLabel}):`);
  console.table(modes);
  console.log(`Filtered vector search, recall@10 against an exact scan of the same rows (${benchDatabaseLabel}):`);
  console.table(recall);
});
await part("efsearch", async () => {
  const n = Number(process.env.BENCH_EF_SEARCH_SIZE ?? 100000);
  // BENCH_HNSW_VARIANTS: m/ef_construction pairs, e.g. "16/64,24/64,16/128" (default: pgvector's defaults).
  const variants = (process.env.BENCH_HNSW_VARIANTS ?? "")
    .split(",")
    .filter(Boolean)
    .map((pair) => {
      const [m, efConstruction] = pair.split("/").map(Number);
      return { m, efConstruction };
    });
  const rows = await efSearchSweep(n, sizes("BENCH_EF_SEARCH_VALUES", "40,60,80,100,150,200"), {
    queries: Number(process.env.BENCH_EF_SEARCH_QUERIES ?? 100),
    builds: Number(process.env.BENCH_EF_SEARCH_BUILDS ?? 1),
    variants: variants.length ? variants : [{}],
  });
  console.log(
    `Unfiltered HNSW recall@10 against an exact scan by hnsw.ef_search, ${n} chunks of the clustered corpus, each index built anew (${benchDatabaseLabel}):`,
  );
  console.table(
    rows.map((r) => ({
      "m / ef_construction": `${r.m} / ${r.efConstruction}`,
      build: r.build,
      "build s": round(r.buildSeconds),
      "index MB": Math.round(r.indexMegabytes),
      ef_search: r.efSearch,
      "recall@10 mean (min)": `${r.recall.toFixed(3)} (${r.minRecall.toFixed(2)})`,
      "queries under 0.98": r.below,
      "queries at 0": r.zero,
      "execution p50 / p95 ms": `${round(r.executionMs.p50, 2)} / ${round(r.executionMs.p95, 2)}`,
    })),
  );
});
await part("labelled", async () => {
  const r = await labelledSearch();
  console.log(`Relevant rows in the top 10 of the labelled set (bench/labelled-set.ts), ${r.model}, ${benchDatabaseLabel}:`);
  console.table(r.rows);
});
await part("memory", async () => {
  const rows = [];
  for (const n of sizes("BENCH_MEMORY_SIZES", "500,5000")) rows.push(await drainMemory(n));
  console.log("Drain memory as the backlog grows (the drain in its own process, the database across the wire):");
  console.table(
    rows.map((r) => ({
      backlog: r.items,
      "drain runs": r.runs,
      "RSS before MB": r.rssBeforeMb,
      "peak RSS MB": r.peakRssMb,
      "peak heap growth MB": r.peakHeapGrowthMb,
      "retained after first / last batch MB": `${r.retainedFirstRunMb} / ${r.retainedLastRunMb}`,
    })),
  );
});
await part("hnsw", async () => {
  const rows = await hnswVariants(Number(process.env.BENCH_HNSW_SIZE ?? 500));
  console.log("PGlite HNSW inserts, what helps:");
  console.table(rows.map((r) => ({ variant: r.variant, seconds: round(r.seconds, 2) })));
});
// Not in the default set: it loads 1,000,000 rows (BENCH_STATUS_ROWS), best on BENCH_DATABASE_URL.
await part("status", async () => {
  const r = await statusPageAtSize(Number(process.env.BENCH_STATUS_ROWS ?? 1_000_000));
  console.log(
    `Status page at ${r.rows} queue rows (${r.backlog} a backlog), 30 days of history, ${benchDatabaseLabel} (loaded in ${r.loadSeconds} s):`,
  );
  console.table([
    { read: "exact counts (queue_counts)", "p50 ms": r.counts.p50, "p95 ms": r.counts.p95 },
    { read: "GET queue (JSON, with trends)", "p50 ms": r.queueJson.p50, "p95 ms": r.queueJson.p95 },
    { read: "GET status (HTML, with charts)", "p50 ms": r.statusHtml.p50, "p95 ms": r.statusHtml.p95 },
    { read: "  its part: queueStatus (counts, ages, last hour, errors)", "p50 ms": r.parts.queue.p50, "p95 ms": r.parts.queue.p95 },
    { read: "  its part: processorStatus (database, runs, spend)", "p50 ms": r.parts.processor.p50, "p95 ms": r.parts.processor.p95 },
    { read: "  its part: readTrends (rollup check, 24 h and 7 d)", "p50 ms": r.parts.trends.p50, "p95 ms": r.parts.trends.p95 },
    { read: "for contrast: count(*) of the queue, once", "p50 ms": r.countStarMs, "p95 ms": "-" },
    { read: "the first read after deploy (rolls up 7 days), once", "p50 ms": r.firstReadMs, "p95 ms": "-" },
  ]);
});
await part("bundles", async () => {
  const bundles = await buildEdgeBundles();
  console.log("Edge bundles:");
  console.table(bundles.map((b) => ({ function: b.name, "raw KB": round(b.bytes / 1024), "gzip KB": round(b.gzipBytes / 1024) })));
});
