// Live changes during a Batch API backfill (issue 25's target: the live lanes' p95 within 10% of a run
// without it). On the local stack (triggers, emulator, 50 ms embedding API, EMBEDDING_BATCH_API=true):
// `samples` changes per live lane without a backfill (after a few not counted), the same while `n` posts
// are backfilled through the Batch API path, and the same again after it, so run-to-run noise is in the
// table too.
// On PostgreSQL (BENCH_DATABASE_URL) the batches function runs as the platform runs it, in a process of
// its own with its own Batch API (bench/batch-live-worker.ts), niced; on PGlite, whose database is in this
// process, it runs here, sharing one thread with the stack and the database.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { and, eq, gte } from "drizzle-orm";
import type { Database } from "../functions/db/database";
import { openaiBatchApi } from "../functions/embedders/batch-api";
import { communityPost, embeddingQueue } from "../schema";
import { BACKGROUND_PRIORITY } from "../schema/registry";
import { backfill } from "../scripts/lib/backfill";
import { startFakeStack } from "../testing/stack";
import { type BatchRun, runBatchesToEnd } from "./batch-runs";
import { openBenchDatabase } from "./bench-database";
import { realisticText, seededRandom } from "./corpus";
import { type LaneSample, latencyStats, measureLanes } from "./lane-latency";
import { watchSessionWaits } from "./session-waits";

const WARM_UP = 10;
const worker = fileURLToPath(new URL("./batch-live-worker.ts", import.meta.url));

/** The runs' totals; from a process of its own, also the CPU it used. */
type BatchTotal = Awaited<ReturnType<typeof runBatchesToEnd>> & { cpuSeconds?: number };

/**
 * The batches function's runs in their own process against `url`, each run handed to `onRun` as it ends:
 * `ready` once the process has started (the runs begin then), `done` with the totals.
 */
function runBatchesElsewhere(url: string, onRun: (run: BatchRun) => void) {
  // At the lowest CPU priority (BENCH_BATCHLIVE_NICE=0: not): on the platform its CPU and its Batch API's
  // are on other machines than the stack serving the live lanes; here all share the cores. Its database
  // sessions are the server's, at the usual priority: their contention is the real one.
  const command = [process.execPath, "--import", "tsx", worker];
  const niced = process.env.BENCH_BATCHLIVE_NICE === "0" ? command : ["nice", "-n", "19", ...command];
  const child = spawn(niced[0]!, niced.slice(1), {
    env: { ...process.env, DATABASE_URL: url },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let total: BatchTotal | undefined;
  let started: (at: number) => void = () => undefined;
  const ready = new Promise<number>((resolve) => (started = resolve));
  createInterface({ input: child.stdout }).on("line", (line) => {
    const message = JSON.parse(line) as { ready?: number; run?: BatchRun; total?: BatchTotal };
    if (message.ready) started(message.ready);
    if (message.run) onRun(message.run);
    if (message.total) total = message.total;
  });
  const done = new Promise<BatchTotal>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => (code === 0 && total ? resolve(total) : reject(new Error(`the batches worker exited with ${code}`))));
  });
  // A worker that dies before it is ready ends the wait too.
  return { ready: Promise.race([ready, done.then(() => Date.now())]), done };
}

/** The backfill's rows stored (its queue rows done), every `everyMs` from `started` until `stop`, then once more. */
function watchProgress(db: Database, started: number, everyMs = 5000) {
  const seen: { seconds: number; stored: number }[] = [];
  const sample = async () => {
    const stored = await db.$count(
      embeddingQueue,
      and(gte(embeddingQueue.priority, BACKGROUND_PRIORITY), eq(embeddingQueue.status, "done")),
    );
    seen.push({ seconds: (Date.now() - started) / 1000, stored });
  };
  let timer: NodeJS.Timeout | undefined;
  let last = Promise.resolve();
  const next = () => {
    timer = setTimeout(() => {
      last = sample().then(next);
    }, everyMs);
  };
  next();
  return {
    async stop() {
      clearTimeout(timer);
      await last;
      clearTimeout(timer);
      await sample();
      return seen;
    },
  };
}

export async function batchLive(n: number, samples: number, latencyMs = 50) {
  const database = await openBenchDatabase();
  const random = seededRandom(n);
  for (let i = 0; i < n; i += 1000) {
    await database.db
      .insert(communityPost)
      .values(Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ title: `Post ${i + j}`, body: realisticText(random) })));
  }
  // The triggers queued them as live changes: the backfill queues them instead.
  await database.db.delete(embeddingQueue);
  const stack = await startFakeStack({ connection: database, forwardNotifications: true, env: { EMBEDDING_BATCH_API: "true" } });
  stack.api.latencyMs = latencyMs;
  const { db } = stack.connection;
  try {
    // Not counted: the first changes after start-up are slower (connections opened, code compiled).
    await measureLanes(db, WARM_UP, "warm-up ");
    const without = await measureLanes(db, samples, "without ");
    const queuedRows = await backfill(db, stack.deps.registry.byType("post")!);
    const runs: BatchRun[] = [];
    const batchSide: { ready: Promise<number>; done: Promise<BatchTotal> } = database.url
      ? runBatchesElsewhere(database.url, (run) => runs.push(run))
      : {
          ready: Promise.resolve(Date.now()),
          done: runBatchesToEnd(
            {
              ...stack.deps,
              batchApi: openaiBatchApi({ apiKey: "test-openai-key", baseURL: stack.api.url, encoding: stack.config.openai.encoding }),
            },
            stack.api.batch,
            (run) => runs.push(run),
          ),
        };
    // A failed backfill fails the bench, but only once the live window is over.
    const backfillDone = batchSide.done.then((total) => ({ total, ended: Date.now() }));
    backfillDone.catch(() => undefined);
    // The live window opens as the batches function's first run starts.
    const started = await batchSide.ready;
    // Every 100 ms: the sampling is itself load, in this window only.
    const watch = watchSessionWaits(database, 100);
    const progress = watchProgress(db, started);
    const during = await measureLanes(db, samples, "during ");
    const windowEnded = Date.now();
    const [waits, stored] = await Promise.all([watch.stop(), progress.stop()]);
    const { total, ended } = await backfillDone;
    const again = await measureLanes(db, samples, "again ");
    const ms = (values: LaneSample[]) => latencyStats(values.map((s) => s.ms));
    // What the batches function was doing when each change was made.
    const phaseOf = (at: number) => {
      const run = runs.find((r) => r.at <= at && at < r.at + r.ms);
      if (run) return run.submitted ? "sending batches" : run.stored ? "storing answers" : "polling";
      return at < ended ? "between runs (the fake Batch API finishing them)" : "after the backfill";
    };
    const byPhase = (values: LaneSample[]) => {
      const phases = new Map<string, LaneSample[]>();
      for (const s of values) phases.set(phaseOf(s.at), [...(phases.get(phaseOf(s.at)) ?? []), s]);
      return Object.fromEntries([...phases].map(([phase, list]) => [phase, { n: list.length, ...ms(list) }]));
    };
    return {
      n,
      samples,
      queuedRows,
      inProcess: !database.url,
      lanes: {
        immediate: { without: ms(without.immediate), during: ms(during.immediate), again: ms(again.immediate) },
        queued: { without: ms(without.queued), during: ms(during.queued), again: ms(again.queued) },
      },
      phases: { immediate: byPhase(during.immediate), queued: byPhase(during.queued) },
      window: { seconds: (windowEnded - started) / 1000, stored },
      backfill: { ...total, seconds: (ended - started) / 1000 },
      waits,
      runs: runs.map((run) => ({ ...run, at: (run.at - started) / 1000 })),
    };
  } finally {
    await stack.close();
  }
}
