// POST /api/embeddings/retry-failed (QStash schedule, Sunday 03:00): gives failed items another round.
import { eq, sql } from "drizzle-orm";
import { embeddingQueue } from "../schema/pipeline-tables.js";
import type { Deps } from "./deps.js";
import { requireQStashSignature } from "./lib/auth.js";
import { createApp, Status } from "./lib/create-app.js";
import { oncePerSignature } from "./lib/replay-guard.js";
import { recordRun } from "./lib/job-runs.js";
import { retryFailedRows } from "./queue/settle.js";

/** Rounds an item gets from retry-failed; after that it stays failed until a person acts. */
export const MAX_RETRY_ROUNDS = 3;

export async function retryFailed(deps: Deps) {
  const { db } = deps;
  const requeued = await retryFailedRows(db, MAX_RETRY_ROUNDS);
  const [left] = await db.select({ n: sql<number>`count(*)::int` }).from(embeddingQueue).where(eq(embeddingQueue.status, "failed"));
  return { requeued, stillFailed: left?.n ?? 0 };
}

export function createRetryFailedApp(deps: Deps) {
  return createApp().post("/retry-failed", requireQStashSignature(deps.config), oncePerSignature(deps.db, "retry-failed"), async (c) =>
    c.json(await recordRun(deps.db, "retry-failed", () => retryFailed(deps)), Status.ok),
  );
}
