// Operator pauses (README "Cost, budget and pauses"): a lane or a content type held back, a huge load run
// at night only, say. A paused row waits in the queue, unclaimed and unrung; resuming lets the next drain
// or doorbell take it. Read by the claim gate (gate.ts), with the budget's closed lanes.
import { and, eq } from "drizzle-orm";
import { type PauseKind, pipelinePauses } from "../../schema/pipeline-tables.js";
import type { Database } from "../db/database.js";

export type Pause = { kind: PauseKind; name: string; reason: string | null; pausedAt: Date };

/** Pauses a lane or content type (again: keeps the first pause's time, takes the new reason). */
export async function pause(db: Database, kind: PauseKind, name: string, reason?: string): Promise<void> {
  await db
    .insert(pipelinePauses)
    .values({ kind, name, reason: reason ?? null })
    .onConflictDoUpdate({ target: [pipelinePauses.kind, pipelinePauses.name], set: { reason: reason ?? null } });
}

/** Resumes it; answers whether it was paused. */
export async function resume(db: Database, kind: PauseKind, name: string): Promise<boolean> {
  const deleted = await db
    .delete(pipelinePauses)
    .where(and(eq(pipelinePauses.kind, kind), eq(pipelinePauses.name, name)))
    .returning({ name: pipelinePauses.name });
  return deleted.length > 0;
}

export async function listPauses(db: Database): Promise<Pause[]> {
  return db.select().from(pipelinePauses).orderBy(pipelinePauses.kind, pipelinePauses.name);
}
