// POST /api/embeddings/retry-failed (QStash schedule, Sunday 03:00): gives failed items another round.

import { recordRun } from "./db/job-runs.js";
import type { Deps } from "./deps.js";
import { requireQStashSignature } from "./http/auth.js";
import { createRouter, type Router, Status } from "./http/create-app.js";
import { oncePerSignature } from "./http/replay-guard.js";
import { deliveryBooked } from "./qstash/spend-ledger.js";
import { failedCount, retryFailedRows } from "./queue/index.js";

export async function retryFailed(deps: Deps) {
  const requeued = await retryFailedRows(deps.db);
  return { requeued, stillFailed: await failedCount(deps.db) };
}

export function retryFailedRouter(deps: Deps): Router {
  return createRouter().post(
    "/retry-failed",
    requireQStashSignature(deps.config),
    deliveryBooked(deps.db, deps.clock),
    oncePerSignature(deps.db, "retry-failed"),
    async (c) => c.json(await recordRun(deps.db, "retry-failed", () => retryFailed(deps)), Status.ok),
  );
}
