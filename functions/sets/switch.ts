// The switch and its rollback (ARCHITECTURE.md §13): one transaction that swaps the two tables' names
// (and their indexes' and sequences'), and the two rows of embedding_sets. Renames touch the catalog
// only; what takes time is the locks. So the transaction takes them in two steps: first locks that
// stop writes but not searches (while it checks coverage), then, for the renames alone, the exclusive
// ones, each attempt short, as searches that arrive meanwhile queue behind it. A search waiting on
// those then reads the new table, and embeds its query with the new model (search.ts reads its set FOR SHARE).
import { sql } from "drizzle-orm";
import { SHADOW_TABLE } from "../../schema/pipeline-tables.js";
import { type Database, rowsOf } from "../db/database.js";
import { BadRequestError, postgresCode, TransientError } from "../lib/errors.js";
import { describeSet, type EmbeddingSet, readSets } from "./sets.js";
import { SHADOW_SUFFIX, shadowCoverage } from "./shadow.js";

/** How long the switch waits for writes in progress (and another switch) to finish: searches go on meanwhile. */
const SWITCH_LOCK_TIMEOUT = "5s";
/**
 * How long one attempt at the exclusive locks waits for running searches. Searches that arrive while
 * it waits queue behind it, so an attempt is short and given up (and made again) rather than stall
 * them: 25 attempts of 200 ms are the 5 s above.
 */
const SWAP_LOCK_TIMEOUT = "200ms";
const SWAP_ATTEMPTS = 25;
const LOCK_NOT_AVAILABLE = "55P03";

export type SwitchResult = { serving: EmbeddingSet; retired: EmbeddingSet; strayChunksDeleted: number };

/**
 * `switch`: to the shadow; `rollback`: the same, only to a set that served before (the one a switch
 * left, within its grace).
 * Refused, saying how much is missing, unless the shadow holds every chunk of the serving set.
 */
export async function switchSets(db: Database, direction: "switch" | "rollback"): Promise<SwitchResult> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT set_config('lock_timeout', ${SWITCH_LOCK_TIMEOUT}, true)`);
    // One switch (or shadow made or dropped) at a time; searches' FOR SHARE reads of the sets go on.
    await lockOrExplain(tx, sql`LOCK TABLE embedding_sets IN SHARE ROW EXCLUSIVE MODE`, "another switch or shadow change");
    const sets = await readSets(tx);
    const { serving, shadow } = sets;
    if (!serving || !shadow) {
      throw new BadRequestError(`there is no shadow set to ${direction} to: make one first (npm run model -- shadow <model>)`);
    }
    if (direction === "rollback" && !shadow.retiredAt) {
      throw new BadRequestError(
        `the shadow ${describeSet(shadow)} was never served: there is nothing to roll back to (npm run model -- switch)`,
      );
    }
    // SHARE: writes wait from here (and this for the ones in progress), so the coverage read and the
    // renames see the same rows; searches (ACCESS SHARE) do not wait. Both tables in one order.
    await lockOrExplain(tx, sql`LOCK TABLE embeddings, ${sql.identifier(SHADOW_TABLE)} IN SHARE MODE`, "writes in progress");
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
    await lockForSwap(tx);
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

/**
 * Before a switch or rollback, outside its transaction: VACUUM (ANALYZE) of the set about to serve. A
 * shadow just filled is what autovacuum takes up next, and the switch's locks wait for an autovacuum
 * until the server cancels it (deadlock_timeout, 1 s: the first switch of BENCHMARKS.md §9 did); and
 * search's planner gets that table's statistics. Nothing waits for it: it locks out only other vacuums
 * and DDL. Returns false when there is no shadow table.
 */
export async function prepareSwitch(db: Database): Promise<boolean> {
  const [row] = await rowsOf<{ exists: boolean }>(db.execute(sql`SELECT to_regclass(${SHADOW_TABLE}) IS NOT NULL AS exists`));
  if (!row?.exists) return false;
  await db.execute(sql`VACUUM (ANALYZE) ${sql.identifier(SHADOW_TABLE)}`);
  return true;
}

/** A lock statement whose timeout says what held it, as a transient error (try again). */
async function lockOrExplain(tx: Database, statement: ReturnType<typeof sql>, holder: string) {
  try {
    await tx.execute(statement);
  } catch (error) {
    if (postgresCode(error) !== LOCK_NOT_AVAILABLE) throw error;
    throw new TransientError(`the switch waited ${SWITCH_LOCK_TIMEOUT} for ${holder} and gave up: nothing changed; try again`);
  }
}

/**
 * The sets' rows FOR UPDATE (searches hold them FOR SHARE while they read: taken first, as they do, so
 * neither waits on the other in a cycle), then both tables ACCESS EXCLUSIVE, for the renames. Each
 * attempt waits SWAP_LOCK_TIMEOUT at most and is undone to its savepoint (which lets the searches
 * queued behind it through) before the next.
 */
async function lockForSwap(tx: Database) {
  await tx.execute(sql`SELECT set_config('lock_timeout', ${SWAP_LOCK_TIMEOUT}, true)`);
  for (let attempt = 1; ; attempt++) {
    await tx.execute(sql`SAVEPOINT swap_locks`);
    try {
      await tx.execute(sql`SELECT role FROM embedding_sets FOR UPDATE`);
      await tx.execute(sql`LOCK TABLE embeddings, ${sql.identifier(SHADOW_TABLE)} IN ACCESS EXCLUSIVE MODE`);
      await tx.execute(sql`RELEASE SAVEPOINT swap_locks`);
      return;
    } catch (error) {
      if (postgresCode(error) !== LOCK_NOT_AVAILABLE) throw error;
      await tx.execute(sql`ROLLBACK TO SAVEPOINT swap_locks`);
      if (attempt >= SWAP_ATTEMPTS) {
        throw new TransientError(
          `the switch waited ${SWAP_ATTEMPTS} times ${SWAP_LOCK_TIMEOUT} for running searches to let go of the tables and gave up: nothing changed; try again`,
        );
      }
    }
  }
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
