// Which embedding set serves and which is the shadow (ARCHITECTURE.md §13, "A model switch with no
// gap"), and which of this deployment's embedders writes each. A set is only ever written by the
// embedder of its own model and size: no set's vectors are replaced by another model's unless an
// operator switched to it by name (`npm run model -- switch`).
import { sql } from "drizzle-orm";
import { type SetRole, SHADOW_TABLE, type VectorStorage } from "../../schema/pipeline-tables.js";
import { type Database, rowsOf } from "../db/database.js";
import type { Embedder } from "../embedders/embedder.js";
import { TransientError } from "../lib/errors.js";

export type EmbeddingSet = { role: SetRole; model: string; dimensions: number; storage: VectorStorage; retiredAt: Date | null };
export type Sets = { serving?: EmbeddingSet; shadow?: EmbeddingSet };

/** `FOR SHARE` inside a transaction: a switch (which updates the rows) waits for it, or it for the switch. */
export async function readSets(db: Database, lock = false): Promise<Sets> {
  return setsOf(await rowsOf<SetRow>(db.execute(setRows(lock))));
}

const setRows = (lock: boolean) =>
  sql`SELECT role, model, dimensions, storage, retired_at FROM embedding_sets ORDER BY role ${lock ? sql`FOR SHARE` : sql``}`;

/** The same read as one json value, for a statement that reads other things too (search's first, functions/search.ts). */
export const setsJsonSql = (lock: boolean) => sql`(SELECT json_agg(s) FROM (${setRows(lock)}) AS s)`;

export type SetRow = { role: SetRole; model: string; dimensions: number; storage: VectorStorage; retired_at: string | Date | null };

/** The sets of `embedding_sets`' rows (as read, or as json). */
export function setsOf(rows: SetRow[]): Sets {
  const sets: Sets = {};
  for (const r of rows) {
    sets[r.role] = {
      role: r.role,
      model: r.model,
      dimensions: r.dimensions,
      storage: r.storage,
      retiredAt: r.retired_at == null ? null : new Date(r.retired_at),
    };
  }
  return sets;
}

const sameModel = (e: Pick<Embedder, "model" | "dimensions">, set: Pick<EmbeddingSet, "model" | "dimensions">) =>
  e.model === set.model && e.dimensions === set.dimensions;

/** This deployment's embedders: the configured model, and the shadow's when EMBEDDING_SHADOW_MODEL is set. */
export type Embedders = { embedder: Embedder; shadowEmbedder?: Embedder };

/** The embedder at hand for `set`, or undefined. */
export function embedderFor(deps: Embedders, set: Pick<EmbeddingSet, "model" | "dimensions">): Embedder | undefined {
  return [deps.embedder, deps.shadowEmbedder].find((e) => e && sameModel(e, set));
}

/**
 * The embedder of the serving set: the configured one before any switch; after one, the embedder of
 * the set switched to. A deployment without it must not write (it would replace the serving vectors
 * with another model's): transient, so its items wait, and the message says what to set.
 */
export function servingEmbedder(deps: Embedders, sets: Sets): Embedder {
  if (!sets.serving) return deps.embedder;
  const found = embedderFor(deps, sets.serving);
  if (found) return found;
  throw new TransientError(
    `the serving embeddings are ${describeSet(sets.serving)} (switched to with npm run model -- switch), but this deployment embeds with ${deps.embedder.model} (${deps.embedder.dimensions}): set EMBEDDING_MODEL and EMBEDDING_DIMENSIONS to the serving model, or EMBEDDING_SHADOW_MODEL to it`,
  );
}

/** The shadow set and the embedder that fills it, when there is one and this deployment has its embedder. */
export function shadowWriter(deps: Embedders, sets: Sets): { set: EmbeddingSet; embedder: Embedder; table: string } | undefined {
  if (!sets.shadow) return undefined;
  const embedder = embedderFor(deps, sets.shadow);
  return embedder ? { set: sets.shadow, embedder, table: SHADOW_TABLE } : undefined;
}

export const describeSet = (set: Pick<EmbeddingSet, "model" | "dimensions" | "storage">) =>
  `${set.model} (${set.dimensions} dimensions, ${set.storage})`;

/**
 * Inside a write transaction, before it writes `table`: the table locked as the write would (ROW
 * EXCLUSIVE), so no switch commits from here on, then the sets read again. A switch that committed
 * after the run read them (while it embedded) renamed the tables under it: its vectors are of the set
 * it meant, now under the other name. Transient: the run is made again with the sets as they are.
 */
export async function confirmSetWriter(tx: Database, table: string, writer: Pick<Embedder, "model" | "dimensions">) {
  await tx.execute(sql`LOCK TABLE ${sql.identifier(table)} IN ROW EXCLUSIVE MODE`);
  const sets = await readSets(tx);
  const set = table === SHADOW_TABLE ? sets.shadow : sets.serving;
  if (set && !sameModel(writer, set)) {
    throw new TransientError(
      `a model switch committed while this run embedded: ${table} now holds ${describeSet(set)}, not ${writer.model} (${writer.dimensions}); the run is made again`,
    );
  }
}
