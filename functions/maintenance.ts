// POST /api/embeddings/maintenance (QStash schedule, daily 02:00): keeps the tables small and true.
import { and, desc, eq, lt, ne, notExists, notInArray, or, sql } from "drizzle-orm";
import { embeddings, hiddenEmbeddings, jobRuns, searchLog, signedCalls } from "../schema/pipeline-tables.js";
import { BACKGROUND_PRIORITY, visibleWhere } from "../schema/registry.js";
import { pruneBatches } from "./batch/settle.js";
import { type DriftCursor, findDrifted } from "./core/drift.js";
import { pruneBudget } from "./cost/budget.js";
import { pruneSpend } from "./cost/ledger.js";
import { restoreHnswIndex } from "./db/hnsw-index.js";
import { recordRun } from "./db/job-runs.js";
import type { Deps } from "./deps.js";
import { requireQStashSignature } from "./http/auth.js";
import { createRouter, type Router, Status } from "./http/create-app.js";
import { oncePerSignature } from "./http/replay-guard.js";
import { Budget } from "./lib/budget.js";
import { deliveryBooked } from "./qstash/spend-ledger.js";
import { deleteDoneRows, queueItems, queueOtherModels, releaseExpiredClaims } from "./queue/index.js";
import { realignTextConfigs } from "./search/text-config.js";
import { maintainSets } from "./sets/maintain.js";
import { embedderFor, readSets } from "./sets/sets.js";
import { foldQueueCounts } from "./status/queue-counts.js";
import { pruneTrends } from "./status/trends.js";

export const SEARCH_LOG_RETENTION_DAYS = 30;

const daysAgo = (days: number) => sql`now() - ${days} * interval '1 day'`;

/** The time the sweep for rows written past the triggers may take in one run (it stops between batches). */
export const DRIFT_SWEEP_MS = 20_000;

/** `driftRows`: rows the sweep checks in this run at most (DRIFT_ROWS_PER_RUN unless given). */
export async function maintain(deps: Deps, options: { driftRows?: number } = {}) {
  const { db, registry } = deps;
  const searchLogs = await db
    .delete(searchLog)
    .where(lt(searchLog.createdAt, daysAgo(SEARCH_LOG_RETENTION_DAYS)))
    .returning({ id: searchLog.id });
  const doneRows = await deleteDoneRows(db);
  const expired = await releaseExpiredClaims(db);
  // A signature past its expiry cannot be replayed: its record is no longer needed.
  const signatures = await db.delete(signedCalls).where(lt(signedCalls.expiresAt, sql`now()`)).returning({ id: signedCalls.signatureId });

  let hiddenDeleted = 0;
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
    // Kept vectors of hidden rows (hidden_embeddings) go once the row or a parent is gone.
    const exists = db
      .select({ one: sql`1` })
      .from(entry.table)
      .where(and(sql`${entry.idColumn}::text = ${hiddenEmbeddings.contentId}`, visibleWhere(registry, entry, false)));
    hiddenDeleted += (
      await db
        .delete(hiddenEmbeddings)
        .where(and(eq(hiddenEmbeddings.contentType, entry.type), notExists(exists)))
        .returning({ id: hiddenEmbeddings.contentId })
    ).length;
  }
  // Model switches: the serving set's model is the one switched to, when there was a switch.
  const sets = await readSets(db);
  const serving = sets.serving ? embedderFor(deps, sets.serving) : deps.embedder;
  const stale = serving ? await queueOtherModels(db, serving) : 0;
  const modelSets = await maintainSets(db, deps, deps.config.sets.rollbackDays);
  // And those of another model, or of a type no longer registered: their hashes can never match.
  hiddenDeleted += (
    await db
      .delete(hiddenEmbeddings)
      .where(
        or(
          ne(hiddenEmbeddings.model, (serving ?? deps.embedder).model),
          notInArray(
            hiddenEmbeddings.contentType,
            registry.entries.map((e) => e.type),
          ),
        ),
      )
      .returning({ id: hiddenEmbeddings.contentId })
  ).length;
  // Rows changed or inserted past the triggers: found by their hashes, a slice per run, queued behind live traffic.
  // Hashed with the serving set's model (after a switch, not necessarily the configured one); none at
  // hand, no sweep this run.
  const sweep = serving
    ? await findDrifted({ ...deps, embedder: serving }, await lastDriftCursor(deps), {
        limit: options.driftRows,
        budget: Budget.start(DRIFT_SWEEP_MS, deps.clock),
      })
    : { checked: 0, drifted: [], next: await lastDriftCursor(deps) };
  await queueItems(
    db,
    sweep.drifted.map((item) => ({ ...item, priority: BACKGROUND_PRIORITY, op: "upsert" as const })),
    "backfill",
  );
  // The cost ledger keeps SPEND_RETENTION_DAYS of days; the budget only its recent periods.
  const spendRowsDeleted = await pruneSpend(db, deps.config.cost.retentionDays, (deps.clock ?? Date).now());
  const budgetPeriodsDeleted = await pruneBudget(db);
  const settledBatchesDeleted = await pruneBatches(db);
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
    hiddenEmbeddingsDeleted: hiddenDeleted,
    driftRowsChecked: sweep.checked,
    driftedRowsQueued: sweep.drifted.length,
    driftCursor: sweep.next,
    spendRowsDeleted,
    budgetPeriodsDeleted,
    settledBatchesDeleted,
    trendRowsDeleted,
    ...modelSets,
  };
}

/** Where the last maintenance run's sweep stopped (its summary keeps it): this run goes on from there. */
async function lastDriftCursor(deps: Deps): Promise<DriftCursor | null> {
  const [last] = await deps.db
    .select({ summary: jobRuns.summary })
    .from(jobRuns)
    .where(and(eq(jobRuns.job, "maintenance"), eq(jobRuns.ok, true)))
    .orderBy(desc(jobRuns.finishedAt), desc(jobRuns.id))
    .limit(1);
  const cursor = last?.summary.driftCursor as DriftCursor | null | undefined;
  return cursor && typeof cursor.type === "string" && (cursor.afterId === null || typeof cursor.afterId === "string") ? cursor : null;
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
