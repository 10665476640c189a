// The switch and its rollback (ARCHITECTURE.md §13): one transaction that swaps the two tables' names
// (and their indexes' and sequences'), and the two rows of embedding_sets. Renames touch the catalog
// only, so it takes the time of its locks, whatever the rows; a search waiting on the lock then reads
// the new table, and embeds its query with the new model (search.ts reads its set FOR SHARE).
import { sql } from "drizzle-orm";
import { SHADOW_TABLE } from "../../schema/pipeline-tables.js";
import { type Database, rowsOf } from "../db/database.js";
import { BadRequestError } from "../lib/errors.js";
import { SHADOW_SUFFIX, shadowCoverage } from "./shadow.js";
import { describeSet, readSets, type EmbeddingSet } from "./sets.js";

/** How long the switch waits for running searches and writes to let go of the tables before it gives up. */
const SWITCH_LOCK_TIMEOUT = "5s";

export type SwitchResult = { serving: EmbeddingSet; retired: EmbeddingSet; strayChunksDeleted: number };

/**
 * `switch`: to the shadow; `rollback`: the same, only to a set that served before (the one a switch
 * left, within its grace).
 * Refused, saying how much is missing, unless the shadow holds every chunk of the serving set.
 */
export async function switchSets(db: Database, direction: "switch" | "rollback"): Promise<SwitchResult> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT set_config('lock_timeout', ${SWITCH_LOCK_TIMEOUT}, true)`);
    // FOR UPDATE: one switch at a time, and searches that read their set wait for this one.
    const rows = await rowsOf<{ role: string }>(tx.execute(sql`SELECT role FROM embedding_sets ORDER BY role FOR UPDATE`));
    const sets = await readSets(tx);
    const { serving, shadow } = sets;
    if (!serving || !shadow || rows.length < 2) {
      throw new BadRequestError(`there is no shadow set to ${direction} to: make one first (npm run model -- shadow <model>)`);
    }
    if (direction === "rollback" && !shadow.retiredAt) {
      throw new BadRequestError(
        `the shadow ${describeSet(shadow)} was never served: there is nothing to roll back to (npm run model -- switch)`,
      );
    }
    // Both tables locked first, in one order: the coverage read and the renames see the same rows.
    await tx.execute(sql`LOCK TABLE embeddings, ${sql.identifier(SHADOW_TABLE)} IN ACCESS EXCLUSIVE MODE`);
    const coverage = await shadowCoverage(tx);
    if (coverage.covered < coverage.servingChunks) {
      const missing = coverage.servingChunks - coverage.covered;
      const share = ((100 * coverage.covered) / coverage.servingChunks).toFixed(1);
      throw new BadRequestError(
        `refused: ${describeSet(shadow)} holds ${coverage.covered.toLocaleString("en-US")} of ${coverage.servingChunks.toLocaleString("en-US")} chunks (${share}%): ${missing.toLocaleString("en-US")} chunks of ${coverage.missingItems.toLocaleString("en-US")} items are missing; they are queued at backfill priority (npm run model -- status)`,
      );
    }
    // Chunks of rows removed since (a shadow pass that did not run): search must not find them.
    const [stray] = await rowsOf<{ n: number }>(
      tx.execute(sql`WITH gone AS (DELETE FROM ${sql.identifier(SHADOW_TABLE)} s WHERE NOT EXISTS (SELECT 1 FROM embeddings e
        WHERE e.content_type = s.content_type AND e.content_id = s.content_id AND e.chunk_index = s.chunk_index) RETURNING 1)
        SELECT count(*)::int AS n FROM gone`),
    );
    await swapTables(tx);
    await tx.execute(sql`UPDATE embedding_sets s SET model = o.model, dimensions = o.dimensions, storage = o.storage,
        retired_at = CASE WHEN s.role = 'shadow' THEN now() END, updated_at = now()
      FROM embedding_sets o WHERE o.role <> s.role`);
    return {
      serving: { ...shadow, role: "serving", retiredAt: null },
      retired: { ...serving, role: "shadow", retiredAt: new Date() },
      strayChunksDeleted: stray?.n ?? 0,
    };
  });
}

/** Renames `a` to `b`, `b` to `a`, through a third name; each pair is of one kind (TABLE, INDEX, SEQUENCE). */
async function swapNames(tx: Database, kind: "TABLE" | "INDEX" | "SEQUENCE", a: string, b: string) {
  const k = sql.raw(kind);
  const temporary = `${a}_swapping`;
  await tx.execute(sql`ALTER ${k} ${sql.identifier(a)} RENAME TO ${sql.identifier(temporary)}`);
  await tx.execute(sql`ALTER ${k} ${sql.identifier(b)} RENAME TO ${sql.identifier(a)}`);
  await tx.execute(sql`ALTER ${k} ${sql.identifier(temporary)} RENAME TO ${sql.identifier(b)}`);
}

/**
 * The tables, every index of `embeddings` with its `_shadow` twin, and the id sequences. An index on
 * one table with no twin on the other (added to `embeddings` by a later migration) is refused, named:
 * after the switch the serving table would lack it.
 */
async function swapTables(tx: Database) {
  const indexes = await rowsOf<{ table: string; name: string }>(
    tx.execute(sql`SELECT t.relname AS table, c.relname AS name FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
      WHERE i.indrelid IN ('embeddings'::regclass, ${SHADOW_TABLE}::regclass)`),
  );
  const serving = new Set(indexes.filter((i) => i.table === "embeddings").map((i) => i.name));
  const shadow = new Set(indexes.filter((i) => i.table === SHADOW_TABLE).map((i) => i.name));
  const unpaired = [
    ...[...serving].filter((name) => !shadow.has(`${name}${SHADOW_SUFFIX}`)),
    ...[...shadow].filter((name) => !name.endsWith(SHADOW_SUFFIX) || !serving.has(name.slice(0, -SHADOW_SUFFIX.length))),
  ];
  if (unpaired.length) {
    throw new BadRequestError(
      `refused: the two sets' indexes differ (${unpaired.join(", ")}): drop the shadow and make it again (npm run model -- drop-shadow, then shadow)`,
    );
  }
  await swapNames(tx, "TABLE", "embeddings", SHADOW_TABLE);
  for (const name of serving) await swapNames(tx, "INDEX", name, `${name}${SHADOW_SUFFIX}`);
  await swapNames(tx, "SEQUENCE", "embeddings_id_seq", `${SHADOW_TABLE}_id_seq`);
}
