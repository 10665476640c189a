// POST /api/embeddings/retry-failed (QStash schedule, Sunday 03:00): gives failed items another round.
import { eq, sql } from "drizzle-orm";
import { embeddingQueue } from "../schema/pipeline-tables";
import type { Deps } from "./deps";
import { requireQStashSignature } from "./lib/auth";
import { createApp, Status } from "./lib/create-app";
import { recordRun } from "./queue/job-runs";
import { retryFailedRows } from "./queue/settle";

/** Rounds an item gets from retry-failed; after that it stays failed until a person acts. */
export const MAX_RETRY_ROUNDS = 3;

export async function retryFailed(deps: Deps) {
  const { db } = deps;
  const requeued = await retryFailedRows(db, MAX_RETRY_ROUNDS);
  const [left] = await db.select({ n: sql<number>`count(*)::int` }).from(embeddingQueue).where(eq(embeddingQueue.status, "failed"));
  return { requeued, stillFailed: left?.n ?? 0 };
}

export function createRetryFailedApp(deps: Deps) {
  return createApp().post("/retry-failed", requireQStashSignature(deps.config), async (c) =>
    c.json(await recordRun(deps.db, "retry-failed", () => retryFailed(deps)), Status.ok));
}
