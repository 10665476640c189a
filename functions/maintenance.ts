// POST /api/embeddings/maintenance (QStash schedule, daily 02:00): keeps the tables small and true.
import { and, eq, lt, notExists, notInArray, sql } from "drizzle-orm";
import { visibleWhere } from "../schema/registry.js";
import { embeddings, searchLog, signedCalls } from "../schema/pipeline-tables.js";
import { restoreHnswIndex } from "./db/hnsw-index.js";
import type { Deps } from "./deps.js";
import { requireQStashSignature } from "./lib/auth.js";
import { createRouter, type Router, Status } from "./lib/create-app.js";
import { oncePerSignature } from "./lib/replay-guard.js";
import { recordRun } from "./lib/job-runs.js";
import { deliveryBooked } from "./qstash/spend-ledger.js";
import { deleteDoneRows, queueOtherModels, releaseExpiredClaims } from "./queue/index.js";
import { realignTextConfigs } from "./search/text-config.js";
import { foldQueueCounts } from "./status/queue-counts.js";
import { pruneTrends } from "./status/trends.js";

export const SEARCH_LOG_RETENTION_DAYS = 30;

const daysAgo = (days: number) => sql`now() - ${days} * interval '1 day'`;

export async function maintain(deps: Deps) {
  const { db, registry } = deps;
  const searchLogs = await db
    .delete(searchLog)
    .where(lt(searchLog.createdAt, daysAgo(SEARCH_LOG_RETENTION_DAYS)))
    .returning({ id: searchLog.id });
  const doneRows = await deleteDoneRows(db);
  const expired = await releaseExpiredClaims(db);
  // A signature past its expiry cannot be replayed: its record is no longer needed.
  const signatures = await db.delete(signedCalls).where(lt(signedCalls.expiresAt, sql`now()`)).returning({ id: signedCalls.signatureId });

  // Embeddings whose content type is no longer registered.
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
  // Every embedding against its row as search may show it now: the row exists, meets its filter and
  // has a searchable parent. Catches what no trigger saw: TRUNCATE, a replica session, a bulk restore.
  for (const entry of registry.entries) {
    const searchable = db
      .select({ one: sql`1` })
      .from(entry.table)
      .where(and(sql`${entry.idColumn}::text = ${embeddings.contentId}`, visibleWhere(registry, entry)));
    const deleted = await db
      .delete(embeddings)
      .where(and(eq(embeddings.contentType, entry.type), notExists(searchable)))
      .returning({ id: embeddings.id });
    orphans += deleted.length;
  }
  const stale = await queueOtherModels(db, deps.embedder);
  const textConfigsRealigned = await realignTextConfigs(db, registry);
  // A first load that was killed leaves the HNSW index dropped: search would scan every row for good.
  const indexRebuilt = await restoreHnswIndex(db);
  // Fresh statistics keep the planner on the HNSW index for filtered searches (PGlite has no autovacuum).
  await db.execute(sql`ANALYZE embeddings`);
  // The status page's rollup kept bounded, its counts' deltas folded (functions/status/).
  const trendRowsDeleted = await pruneTrends(db, (deps.clock ?? Date).now());
  await foldQueueCounts(db);
  return {
    searchLogsDeleted: searchLogs.length,
    doneRowsDeleted: doneRows,
    expiredClaimsReleased: expired,
    orphanEmbeddingsDeleted: orphans,
    staleModelItemsQueued: stale,
    expiredSignaturesDeleted: signatures.length,
    textConfigsRealigned,
    indexRebuilt,
    trendRowsDeleted,
  };
}

export function maintenanceRouter(deps: Deps): Router {
  return createRouter().post(
    "/maintenance",
    requireQStashSignature(deps.config),
    deliveryBooked(deps.db, deps.clock),
    oncePerSignature(deps.db, "maintenance"),
    async (c) => c.json(await recordRun(deps.db, "maintenance", () => maintain(deps)), Status.ok),
  );
}
