// Live changes during a Batch API backfill (issue 25's target: the live lanes' p95 within 10% of a run
// without it). On the local stack (triggers, emulator, 50 ms embedding API, EMBEDDING_BATCH_API=true):
// live changes made one after the other all along, each counted "without" or "during" by what the
// batches function was doing when it was made. The windows alternate: `samples` pairs before the
// backfill, then each of the batches function's runs (changes made while it runs are "during"), then
// `gap` pairs with no run (on the platform runs are ten minutes apart), and `samples` pairs after the
// last run. So both sets are measured over the same minutes, under the same load from the rest of the
// machine; the ratio's spread is bootstrapped.
// On PostgreSQL (BENCH_DATABASE_URL) the batches function runs as the platform runs it, in a process of
// its own with its own Batch API (bench/batch-live-worker.ts), niced; on PGlite, whose database is in this
// process, it runs here, sharing one thread with the stack and the database.
// `path` "drain" (BENCH_BATCHLIVE_PATH=drain): the same backfill by the default path instead, no Batch
// API: the drain's runs (functions/drain.ts, each its budget, chained while a backlog remains) take its
// rows in the batches it claims, on the same sides as the batches function's runs above.
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
import { type BatchRun, runBatchesToEnd, runDrainsToEnd } from "./batch-runs";
import { openBenchDatabase } from "./bench-database";
import { percentile, realisticText, seededRandom } from "./corpus";
import { betweenChanges, type LaneSample, latencyStats, measureLanes, measurePair } from "./lane-latency";
import { watchSessionWaits } from "./session-waits";

const WARM_UP = 10;
const worker = fileURLToPath(new URL("./batch-live-worker.ts", import.meta.url));
/** The application_name of the batches function's sessions, to see what they run beside the slow changes. */
const BATCHES_SESSION = "batches";

/** Which path takes the backfill: the Batch API's (the batches function) or the default one (the drain). */
export type BackfillPath = "batch" | "drain";

/** The runs' totals; from a process of its own, also the CPU it used. */
type BatchTotal = Awaited<ReturnType<typeof runBatchesToEnd>> & { cpuSeconds?: number };

/** The batches function's side: `go` starts its next run; `idle` answers when it waits for one (or has ended); `done` its totals. */
type BatchSide = { go(): void; idle(): Promise<void>; ended(): boolean; done: Promise<BatchTotal> };

/** A promise and its resolve, renewed each time it is used. */
function signal() {
  let resolve: () => void = () => undefined;
  let promise = new Promise<void>((r) => (resolve = r));
  return {
    wait: () => promise,
    fire() {
      resolve();
      promise = new Promise<void>((r) => (resolve = r));
    },
  };
}

/** What both sides keep: whether the function waits for its next run, or has ended; `start` sends its go. */
function sideState(start: () => void) {
  const waiting = signal();
  let idle = false;
  let ended = false;
  return {
    nowIdle() {
      idle = true;
      waiting.fire();
    },
    nowEnded() {
      ended = true;
      waiting.fire();
    },
    side(done: Promise<BatchTotal>): BatchSide {
      done.catch(() => undefined);
      return {
        ended: () => ended,
        go() {
          idle = false;
          start();
        },
        idle: async () => {
          while (!idle && !ended) await waiting.wait();
        },
        done,
      };
    },
  };
}

/** The batches function's runs in their own process against `url`, each run handed to `onRun` as it ends. */
function runBatchesElsewhere(url: string, path: BackfillPath, onRun: (run: BatchRun) => void): BatchSide {
  // At the lowest CPU priority (BENCH_BATCHLIVE_NICE=0: not): on the platform its CPU and its Batch API's
  // are on other machines than the stack serving the live lanes; here all share the cores. Its database
  // sessions are the server's, at the usual priority: their contention is the real one.
  const command = [process.execPath, "--import", "tsx", worker];
  const niced = process.env.BENCH_BATCHLIVE_NICE === "0" ? command : ["nice", "-n", "19", ...command];
  const named = new URL(url);
  named.searchParams.set("application_name", BATCHES_SESSION);
  const child = spawn(niced[0]!, niced.slice(1), {
    env: { ...process.env, DATABASE_URL: named.toString(), BENCH_BATCHLIVE_PATH: path },
    stdio: ["pipe", "pipe", "inherit"],
  });
  let total: BatchTotal | undefined;
  const state = sideState(() => child.stdin!.write("go\n"));
  createInterface({ input: child.stdout }).on("line", (line) => {
    const message = JSON.parse(line) as { idle?: number; run?: BatchRun; total?: BatchTotal };
    if (message.idle) state.nowIdle();
    if (message.run) onRun(message.run);
    if (message.total) total = message.total;
  });
  return state.side(
    new Promise<BatchTotal>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code) => {
        state.nowEnded();
        code === 0 && total ? resolve(total) : reject(new Error(`the batches worker exited with ${code}`));
      });
    }),
  );
}

/** The same in this process (PGlite: its database is here). */
function runBatchesHere(
  deps: Parameters<typeof runBatchesToEnd>[0],
  api: Parameters<typeof runBatchesToEnd>[1],
  path: BackfillPath,
  onRun: (run: BatchRun) => void,
): BatchSide {
  const going = signal();
  const state = sideState(() => going.fire());
  const beforeRun = async () => {
    state.nowIdle();
    await going.wait();
  };
  const runs = path === "drain" ? runDrainsToEnd(deps, onRun, 1000, beforeRun) : runBatchesToEnd(deps, api, onRun, 1000, beforeRun);
  return state.side(runs.finally(state.nowEnded));
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

type Counted = LaneSample & { window: "without" | "during" | "neither" };

/** p95(during) / p95(without) and its 90% interval, by resampling both sets (2,000 times, seeded). */
export function p95Ratio(without: number[], during: number[], resamples = 2000) {
  const random = seededRandom(95);
  const draw = (values: number[]) => Array.from(values, () => values[Math.floor(random() * values.length)]!);
  const ratios: number[] = [];
  for (let i = 0; i < resamples; i++) ratios.push(percentile(draw(during), 95) / percentile(draw(without), 95));
  return { ratio: percentile(during, 95) / percentile(without, 95), low: percentile(ratios, 5), high: percentile(ratios, 95) };
}

export async function batchLive(n: number, samples: number, gap: number, path: BackfillPath = "batch", latencyMs = 50) {
  const database = await openBenchDatabase();
  const random = seededRandom(n);
  for (let i = 0; i < n; i += 1000) {
    await database.db
      .insert(communityPost)
      .values(Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ title: `Post ${i + j}`, body: realisticText(random) })));
  }
  // The triggers queued them as live changes: the backfill queues them instead.
  await database.db.delete(embeddingQueue);
  const stack = await startFakeStack({
    connection: database,
    forwardNotifications: true,
    env: { EMBEDDING_BATCH_API: String(path === "batch") },
  });
  stack.api.latencyMs = latencyMs;
  const { db } = stack.connection;
  // A failure ends the changes too, else their loop would keep the process alive.
  let stopChanges: () => Promise<unknown> = async () => undefined;
  try {
    // Not counted: the first changes after start-up are slower (connections opened, code compiled).
    await measureLanes(db, WARM_UP, "warm-up ");
    // One change a lane after another, all along, each counted in the window it was made in.
    let window: Counted["window"] = "without";
    const counted = { immediate: [] as Counted[], queued: [] as Counted[] };
    let measuring = true;
    stopChanges = () => {
      measuring = false;
      return changes;
    };
    const changes: Promise<void> = (async () => {
      for (let i = 0; measuring; i++) {
        const made = window;
        const pair = await measurePair(db, `live ${i}`);
        counted.immediate.push({ ...pair.immediate, window: made });
        counted.queued.push({ ...pair.queued, window: made });
        await betweenChanges();
      }
    })();
    let failure: unknown;
    changes.catch((error) => (failure = error));
    const pairsFrom = (start: number) => async (k: number) => {
      while (measuring && counted.queued.length < start + k) {
        if (failure) throw failure;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await pairsFrom(0)(samples);

    const queuedRows = await backfill(db, stack.deps.registry.byType("post")!);
    const runs: BatchRun[] = [];
    const runEnded = signal();
    const onRun = (run: BatchRun) => {
      runs.push(run);
      runEnded.fire();
    };
    const side = database.url
      ? runBatchesElsewhere(database.url, path, onRun)
      : runBatchesHere(
          {
            ...stack.deps,
            // The drain's chain is its loop here: no message to the stack's own drain.
            publisher: undefined,
            batchApi: openaiBatchApi({ apiKey: "test-openai-key", baseURL: stack.api.url, encoding: stack.config.openai.encoding }),
          },
          stack.api.batch,
          path,
          onRun,
        );
    const started = Date.now();
    // Every 100 ms: the sampling is itself load, in this window only.
    const watch = watchSessionWaits(database, 100, BATCHES_SESSION);
    const progress = watchProgress(db, started);
    await side.idle();
    while (!side.ended()) {
      // A run: the changes made meanwhile are "during"; then the fake Batch API finishes what it was sent
      // (counted in neither); then `gap` pairs with no run.
      const before = runs.length;
      window = "during";
      side.go();
      while (runs.length === before && !side.ended()) await Promise.race([runEnded.wait(), side.done.catch(() => undefined)]);
      if (failure) throw failure;
      window = "neither";
      await side.idle();
      if (side.ended()) break;
      window = "without";
      await pairsFrom(counted.queued.length)(gap);
    }
    window = "without";
    const total = await side.done;
    const finished = Date.now();
    const [waits, stored] = await Promise.all([watch.stop(), progress.stop()]);
    await pairsFrom(counted.queued.length)(samples);
    measuring = false;
    await changes;

    const ms = (values: LaneSample[]) => latencyStats(values.map((s) => s.ms));
    // What the batches function was doing when each change was made.
    const runOf = (at: number) => runs.find((r) => r.at <= at && at < r.at + r.ms);
    const phaseOf = (at: number) => {
      const run = runOf(at);
      if (path === "drain") return "draining";
      return run?.submitted ? "sending batches" : run?.stored ? "storing answers" : "polling";
    };
    const byPhase = (values: Counted[]) => {
      const phases = new Map<string, LaneSample[]>();
      for (const s of values.filter((v) => v.window === "during")) phases.set(phaseOf(s.at), [...(phases.get(phaseOf(s.at)) ?? []), s]);
      return Object.fromEntries([...phases].map(([phase, list]) => [phase, { n: list.length, ...ms(list) }]));
    };
    // Beside each change slower than its lane's p95 without: what the batches function's sessions ran.
    const besideSlow = (values: Counted[]) => {
      const limit = percentile(
        values.filter((v) => v.window === "without").map((v) => v.ms),
        95,
      );
      const slow = values.filter((v) => v.window === "during" && v.ms > limit);
      const statements = new Map<string, number>();
      for (const change of slow) {
        const seen = new Set(waits.timeline.filter((t) => t.at >= change.at && t.at <= change.at + change.ms).flatMap((t) => t.doing));
        if (seen.size === 0) seen.add(`(no statement of the ${path === "drain" ? "drain" : "batches function"})`);
        for (const doing of seen) statements.set(doing, (statements.get(doing) ?? 0) + 1);
      }
      return {
        slow: slow.map((s) => ({ at: (s.at - started) / 1000, ms: Math.round(s.ms), phase: phaseOf(s.at) })),
        statements: [...statements].sort((a, b) => b[1] - a[1]),
      };
    };
    const lane = (values: Counted[]) => {
      const without = values.filter((v) => v.window === "without");
      const during = values.filter((v) => v.window === "during");
      // The noise without a backfill: the first half of the without changes against the second.
      const half = Math.floor(without.length / 2);
      return {
        without: { n: without.length, ...ms(without) },
        during: { n: during.length, ...ms(during) },
        ...p95Ratio(
          without.map((v) => v.ms),
          during.map((v) => v.ms),
        ),
        halves:
          percentile(
            without.slice(half).map((v) => v.ms),
            95,
          ) /
          percentile(
            without.slice(0, half).map((v) => v.ms),
            95,
          ),
      };
    };
    return {
      n,
      path,
      samples,
      gap,
      queuedRows,
      inProcess: !database.url,
      lanes: { immediate: lane(counted.immediate), queued: lane(counted.queued) },
      phases: { immediate: byPhase(counted.immediate), queued: byPhase(counted.queued) },
      slow: { immediate: besideSlow(counted.immediate), queued: besideSlow(counted.queued) },
      window: { stored },
      backfill: { ...total, seconds: (finished - started) / 1000, runSeconds: runs.reduce((sum, r) => sum + r.ms, 0) / 1000 },
      waits,
      runs: runs.map((run) => ({ ...run, at: (run.at - started) / 1000 })),
    };
  } finally {
    await stopChanges().catch(() => undefined);
    await stack.close();
  }
}
