// The embedding_queue's states and every move between them (ARCHITECTURE.md §2 and §5). Nothing else in
// the functions writes a queue row's status; the triggers' SQL function (schema/capture-sql.ts) is the
// other writer, and queue-items.ts calls that same function, so coalescing lives in one place.
//
//   (none) ──queueItems / queueOtherModels / queueShadowMissing / trigger──▶ pending ◀──────────────────┐
//   pending ──claimBatch──▶ processing ──settleDone──▶ done ──deleteDoneRows──▶ (none)
//   processing ──returnToPending (transient; releaseExpiredClaims)─────────────────┘
//   processing ──settleFailed──▶ failed ──retryFailedRows──▶ pending
//   (none) ──recordFailed──▶ failed          pending, failed ──resolveSettled──▶ done
export { type Claimed, claimBatch, type PriorityRange, readyCount, releaseExpiredClaims } from "./claim.js";
export { BATCH_RETURNED, type Gate, gateLets, OPEN_GATE, passesGate, readGate } from "./gate.js";
export { freeLanes, holdLanes, laneStatesNow, lockIdleLanes, releaseLane } from "./lane-state.js";
export { LIVE_MAX_PRIORITY, LIVE_RANGE, MAX_YIELD_MS, YIELD_STEP_MS, yieldToLive } from "./live-first.js";
export { listPauses, type Pause, pause, resume } from "./pauses.js";
export { DONE_RETENTION_DAYS, deleteDoneRows } from "./prune.js";
export { type QueuedItem, queueItems, queueItemsThen, queueOtherModels, queueShadowMissing } from "./queue-items.js";
export { recordFailed } from "./record-failed.js";
export { type PendingVersion, pendingVersions, resolveSettled } from "./resolve-settled.js";
export { failedCount, MAX_RETRY_ROUNDS, retryFailedRows } from "./retry.js";
export { backoffMs, MAX_ATTEMPTS, type Outcome, returnToPending, settleByOutcome, settleDone, settleFailed, unclaim } from "./settle.js";
