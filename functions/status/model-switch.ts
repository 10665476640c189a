// A model switch on the status endpoints (ARCHITECTURE.md §13): the serving set, the shadow's
// coverage, whether this deployment can fill it, and until when a rollback is possible.
import { html } from "hono/html";
import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { describeSet, type Embedders, readSets, shadowWriter } from "../sets/sets.js";
import { shadowCoverage } from "../sets/shadow.js";

export type ModelSwitchStatus = Awaited<ReturnType<typeof modelSwitchStatus>>;

/** Null when there is no shadow set. */
export async function modelSwitchStatus(db: Database, embedders: Embedders, config: Pick<Config, "sets">) {
  const sets = await readSets(db);
  if (!sets.serving || !sets.shadow) return null;
  const coverage = await shadowCoverage(db);
  const retiredAt = sets.shadow.retiredAt;
  return {
    serving: describeSet(sets.serving),
    shadow: describeSet(sets.shadow),
    /** "filling": a switch waits for full coverage; "retired": the set switched from, kept for rollback. */
    phase: retiredAt ? ("retired" as const) : ("filling" as const),
    ...coverage,
    percent: coverage.servingChunks ? Math.floor((1000 * coverage.covered) / coverage.servingChunks) / 10 : 100,
    /** False: no EMBEDDING_SHADOW_MODEL for it here, so nothing fills it (or keeps it current for rollback). */
    embedderAtHand: !!shadowWriter(embedders, sets),
    rollbackUntil: retiredAt ? new Date(retiredAt.getTime() + config.sets.rollbackDays * 86_400_000).toISOString() : null,
  };
}

/** One paragraph of the status page. */
export function modelSwitchLine(status: ModelSwitchStatus) {
  if (!status) return "";
  const ready = status.covered === status.servingChunks;
  const fill = status.embedderAtHand ? "" : html` · <b class="bad">this deployment has no embedder for it (EMBEDDING_SHADOW_MODEL)</b>`;
  return status.phase === "filling"
    ? html`<p id="model-switch">Model switch: serving ${status.serving}; shadow ${status.shadow} holds ${status.covered} of ${status.servingChunks} chunks (${status.percent}%)${
        ready ? html` · <b class="good">ready: npm run model -- switch</b>` : html` · ${status.missingItems} items to embed`
      }${fill}</p>`
    : html`<p id="model-switch">Model switch: serving ${status.serving}; ${status.shadow} kept for rollback until ${status.rollbackUntil} (${status.percent}% current)${fill}</p>`;
}
