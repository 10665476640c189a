// The Batch API path as the benchmarks drive it: the batches function's run (functions/batches.ts) called
// back to back, as its schedule would call it, with the fake Batch API finishing every batch sent between
// two runs (OpenAI's finishes within 24 hours); and the default path's counterpart, the drain's runs
// (functions/drain.ts) back to back, as its chain calls them while a backlog remains.
import { runBatches } from "../functions/batches";
import { loadConfig } from "../functions/config";
import type { Database } from "../functions/db/database";
import type { Deps } from "../functions/deps";
import { drain } from "../functions/drain";
import { createRegistry } from "../schema/registry";
import { type FakeOpenAI, fakeServerEmbedder } from "../testing/fake-openai";
import type { FakeBatchApi } from "../testing/fake-openai-batch";

/**
 * One run of the batches function (or the drain): when it started (ms since the epoch), how long it took,
 * what it did; `yieldedMs`, how long its store waited for the live lanes (functions/queue/live-first.ts).
 */
export type BatchRun = { at: number; ms: number; submitted: number; sentRows: number; stored: number; returned: number; yieldedMs: number };

/** What one run did, `last` when nothing is left for another. */
type RunOnce = () => Promise<{ done: Omit<BatchRun, "at" | "ms">; last: boolean }>;

/** A deployment's dependencies against the fake OpenAI server, its Batch API path on or off. */
export const fakeOpenAIDeps = (db: Database, api: FakeOpenAI, batchApi: boolean): Deps => ({
  db,
  registry: createRegistry(),
  config: loadConfig({ OPENAI_API_KEY: "test-openai-key", OPENAI_BASE_URL: api.url, EMBEDDING_BATCH_API: String(batchApi) }),
  embedder: fakeServerEmbedder(api),
});

/**
 * Runs until one finds no batch to poll and none to send; each run is handed to `onRun` as it ends.
 * `beforeRun`, when given, is awaited before each run (a bench's window without a run between two).
 */
export function runBatchesToEnd(
  deps: Deps,
  batchApi: FakeBatchApi,
  onRun?: (run: BatchRun) => void,
  maxRuns = 1000,
  beforeRun?: () => Promise<void>,
) {
  const once: RunOnce = async () => {
    const run = await runBatches(deps);
    return {
      done: {
        submitted: run.submitted.length,
        sentRows: run.submitted.reduce((sum, s) => sum + s.rows, 0),
        stored: run.polled.reduce((sum, p) => sum + p.stored, 0),
        returned: run.polled.reduce((sum, p) => sum + p.returned, 0),
        yieldedMs: run.polled.reduce((sum, p) => sum + p.yieldedMs, 0),
      },
      // The fake Batch API finishes what was sent before the next run.
      last: (batchApi.finish(), run.submitted.length === 0 && run.polled.length === 0),
    };
  };
  return runToEnd(once, onRun, maxRuns, beforeRun);
}

/** The drain's runs (`budgetMs` each, the deployment's by default) until one leaves no row ready; as above. */
export function runDrainsToEnd(
  deps: Deps,
  onRun?: (run: BatchRun) => void,
  maxRuns = 1000,
  beforeRun?: () => Promise<void>,
  budgetMs?: number,
) {
  const once: RunOnce = async () => {
    const run = await drain(deps, { budgetMs });
    return {
      done: { submitted: 0, sentRows: 0, stored: run.done, returned: run.retried, yieldedMs: run.yieldedMs },
      last: run.remaining === 0 || run.stoppedBy === "transient-error" || run.stoppedBy === "paused",
    };
  };
  return runToEnd(once, onRun, maxRuns, beforeRun);
}

async function runToEnd(once: RunOnce, onRun?: (run: BatchRun) => void, maxRuns = 1000, beforeRun?: () => Promise<void>) {
  const total = { runs: 0, batches: 0, stored: 0, returned: 0, yieldedMs: 0 };
  while (total.runs < maxRuns) {
    await beforeRun?.();
    const at = Date.now();
    const run = await once();
    total.runs++;
    const done: BatchRun = { at, ms: Date.now() - at, ...run.done };
    total.batches += done.submitted;
    total.stored += done.stored;
    total.returned += done.returned;
    total.yieldedMs += done.yieldedMs;
    onRun?.(done);
    if (run.last) break;
  }
  return total;
}
