// POST /api/embeddings/maintenance (QStash schedule, daily 02:00): keeps the tables small and true.
import { and, eq, getTableName, lt, notInArray, sql } from "drizzle-orm";
import { embeddingQueue, embeddings, searchLog, signedCalls } from "../schema/pipeline-tables.js";
import { yieldingWrite } from "./db/conflicts.js";
import { rowsOf } from "./db/database.js";
import { BACKGROUND_PRIORITY } from "../schema/registry.js";
import type { Deps } from "./deps.js";
import { requireQStashSignature } from "./lib/auth.js";
import { createApp, Status } from "./lib/create-app.js";
import { oncePerSignature } from "./lib/replay-guard.js";
import { recordRun } from "./lib/job-runs.js";
import { returnToPending } from "./queue/settle.js";

export const SEARCH_LOG_RETENTION_DAYS = 30;
export const DONE_RETENTION_DAYS = 7;

const daysAgo = (days: number) => sql`now() - ${days} * interval '1 day'`;

export async function maintain(deps: Deps) {
  const { db, registry } = deps;
  const searchLogs = await db
    .delete(searchLog)
    .where(lt(searchLog.createdAt, daysAgo(SEARCH_LOG_RETENTION_DAYS)))
    .returning({ id: searchLog.id });
  const doneRows = await db
    .delete(embeddingQueue)
    .where(and(eq(embeddingQueue.status, "done"), lt(embeddingQueue.updatedAt, daysAgo(DONE_RETENTION_DAYS))))
    .returning({ id: embeddingQueue.id });
  const expired = await db
    .select({ id: embeddingQueue.id })
    .from(embeddingQueue)
    .where(and(eq(embeddingQueue.status, "processing"), lt(embeddingQueue.lockedUntil, sql`now()`)));
  await returnToPending(
    db,
    expired.map((row) => ({ id: row.id, delayMs: 0, error: "claim expired: the drain that held it stopped" })),
  );
  // A signature past its expiry cannot be replayed: its record is no longer needed.
  const signatures = await db.delete(signedCalls).where(lt(signedCalls.expiresAt, sql`now()`)).returning({ id: signedCalls.signatureId });

  // Embeddings whose source row is gone, or whose content type is no longer registered.
  let orphans = (
    await db
      .delete(embeddings)
      .where(
        notInArray(
          embeddings.contentType,
          registry.entries.map((e) => e.type),
        ),
      )
      .returning({ id: embeddings.id })
  ).length;
  for (const entry of registry.entries) {
    const deleted = await rowsOf<{ id: number }>(
      db.execute(sql`DELETE FROM embeddings e
      WHERE e.content_type = ${entry.type}
        AND NOT EXISTS (SELECT 1 FROM ${sql.identifier(getTableName(entry.table))} t WHERE t.${sql.identifier(entry.idColumn.name)}::text = e.content_id)
      RETURNING e.id`),
    );
    orphans += deleted.length;
  }
  const stale = await queueOtherModels(deps);
  // Fresh statistics keep the planner on the HNSW index for filtered searches (PGlite has no autovacuum).
  await db.execute(sql`ANALYZE embeddings`);
  return {
    searchLogsDeleted: searchLogs.length,
    doneRowsDeleted: doneRows.length,
    expiredClaimsReleased: expired.length,
    orphanEmbeddingsDeleted: orphans,
    staleModelItemsQueued: stale,
    expiredSignaturesDeleted: signatures.length,
  };
}

/**
 * Queues the items whose chunks were embedded with another model or size, behind live traffic:
 * re-embedding happens without a drop. Start-up calls it too, so a switch of embedder is handled
 * at once rather than at the next 02:00. Returns how many items it queued.
 */
export async function queueOtherModels(deps: Pick<Deps, "db" | "embedder">): Promise<number> {
  // In item order, as every writer of queue rows takes them, yielding to the application's writes.
  const [row] = await yieldingWrite(deps.db, (tx) =>
    rowsOf<{ n: number }>(
      tx.execute(sql`WITH stale AS (
      SELECT DISTINCT content_type, content_id FROM embeddings WHERE model <> ${deps.embedder.model} OR dimensions <> ${deps.embedder.dimensions}
      ORDER BY content_type, content_id)
    SELECT count(queue_for_embedding(s.content_type, s.content_id, ${BACKGROUND_PRIORITY}, 'upsert', 'backfill'))::int AS n FROM stale s`),
    ),
  );
  return row?.n ?? 0;
}

export function createMaintenanceApp(deps: Deps) {
  return createApp().post("/maintenance", requireQStashSignature(deps.config), oncePerSignature(deps.db, "maintenance"), async (c) =>
    c.json(await recordRun(deps.db, "maintenance", () => maintain(deps)), Status.ok),
  );
}
