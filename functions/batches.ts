// POST /api/embeddings/batches (QStash schedule, only where EMBEDDING_BATCH_API=true): the Batch API path
// for backfills (ARCHITECTURE.md §14 "Batch API"). Polls the batches sent, stores those OpenAI is done
// with (functions/batch/settle.ts), then sends the backfill backlog's next batch when it is big enough
// (functions/batch/submit.ts). No process waits for a batch: each run polls once and answers.
import { pollBatches } from "./batch/settle.js";
import { type Submitted, submitBatch } from "./batch/submit.js";
import { recordRun } from "./db/job-runs.js";
import type { Deps } from "./deps.js";
import { type BatchApi, openaiBatchApi } from "./embedders/batch-api.js";
import { requireQStashSignature } from "./http/auth.js";
import { createRouter, type Router, Status } from "./http/create-app.js";
import { oncePerSignature } from "./http/replay-guard.js";
import { startRun } from "./lib/budget.js";
import { deliveryBooked } from "./qstash/spend-ledger.js";

/** The deployment's Batch API client: OpenAI's (or a compatible server's, OPENAI_BASE_URL), none for the local embedder. */
export function batchApiOf(deps: Deps): BatchApi | undefined {
  const { openai, provider } = deps.config;
  if (deps.batchApi) return deps.batchApi;
  if (provider !== "openai" || !openai.apiKey) return undefined;
  return openaiBatchApi({ apiKey: openai.apiKey, baseURL: openai.baseUrl, encoding: openai.encoding });
}

/** Batches one run may send: a large backlog goes out in a few runs, not one batch per ten minutes. */
const MAX_SUBMITS_PER_RUN = 10;

/**
 * One run: poll every open batch (even with the path turned off since: they still settle), then send
 * batches while the backlog is big enough and half the run's time is left.
 */
export async function runBatches(deps: Deps) {
  const api = batchApiOf(deps);
  if (!api) return { polled: [], submitted: [], note: "no OpenAI embedder: the Batch API path needs OPENAI_API_KEY" };
  const { work, workMs } = startRun(deps.config.drain.budgetMs, deps.clock);
  const polled = await pollBatches(deps, api, work);
  const submitted: Submitted[] = [];
  while (submitted.length < MAX_SUBMITS_PER_RUN && work.left() > workMs / 2) {
    const sent = await submitBatch(deps, api, work.clock.now());
    if (!sent) break;
    submitted.push(sent);
  }
  return { polled, submitted };
}

export function batchesRouter(deps: Deps): Router {
  return createRouter().post(
    "/batches",
    requireQStashSignature(deps.config),
    deliveryBooked(deps.db, deps.clock),
    oncePerSignature(deps.db, "batches"),
    async (c) => c.json(await recordRun(deps.db, "batches", () => runBatches(deps)), Status.ok),
  );
}
