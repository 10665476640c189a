// The shadow set (ARCHITECTURE.md §13): `embeddings_shadow`, a table of the same columns and indexes
// as `embeddings` but its own vector type and size, filled by the same pipeline at backfill priority.
// Its coverage is what a switch waits for.
import { sql } from "drizzle-orm";
import { SHADOW_TABLE, type VectorStorage } from "../../schema/pipeline-tables.js";
import { type Database, rowsOf } from "../db/database.js";
import { servingColumn } from "../db/vector-column.js";
import { BadRequestError } from "../lib/errors.js";
import { queueShadowMissing } from "../queue/index.js";
import { describeSet, type EmbeddingSet, readSets, type Sets } from "./sets.js";

/** pgvector indexes `vector` up to 2,000 dimensions with HNSW, `halfvec` up to 4,000. */
export const MAX_INDEXED_DIMENSIONS: Record<VectorStorage, number> = { vector: 2000, halfvec: 4000 };

/** The suffix of the shadow's index and sequence names: a switch swaps them with the serving ones'. */
export const SHADOW_SUFFIX = "_shadow";

export type ShadowRequest = { model: string; dimensions: number; storage: VectorStorage };

/**
 * Creates the shadow set for `wanted` and records both sets (the serving one as `embeddings` holds it),
 * then fills what it can without the embedding API: a shadow of the serving model and size (a change of
 * storage only) is copied, vectors cast; any other is queued, every item, at backfill priority.
 * Refuses a second shadow, a size pgvector cannot index, a halfvec the server's pgvector lacks, and a
 * serving table still holding several models (an in-place re-embedding under way).
 */
export async function createShadow(
  db: Database,
  wanted: ShadowRequest,
  configured: { model: string; dimensions: number },
): Promise<{ copied: number; queued: number }> {
  if (wanted.dimensions > MAX_INDEXED_DIMENSIONS[wanted.storage]) {
    throw new BadRequestError(
      `pgvector's HNSW index takes ${wanted.storage} of at most ${MAX_INDEXED_DIMENSIONS[wanted.storage]} dimensions, not ${wanted.dimensions}${wanted.storage === "vector" ? ": store it as halfvec (--storage halfvec)" : ""}`,
    );
  }
  const copied = await db.transaction(async (tx) => {
    const sets = await readSets(tx, true);
    if (sets.shadow) {
      throw new BadRequestError(
        `a shadow set exists already: ${describeSet(sets.shadow)}; switch to it, roll back, or drop it (npm run model -- drop-shadow)`,
      );
    }
    if (wanted.storage === "halfvec") {
      const [has] = await rowsOf<{ ok: boolean }>(tx.execute(sql`SELECT to_regtype('halfvec') IS NOT NULL AS ok`));
      if (!has?.ok) throw new BadRequestError("this server's pgvector has no halfvec (it needs 0.7.0): ALTER EXTENSION vector UPDATE");
    }
    const serving = sets.serving ?? (await currentServing(tx, configured));
    if (serving.model === wanted.model && serving.dimensions === wanted.dimensions && serving.storage === wanted.storage) {
      throw new BadRequestError(`the serving set is ${describeSet(serving)} already`);
    }
    await tx.execute(sql`INSERT INTO embedding_sets (role, model, dimensions, storage)
      VALUES ('serving', ${serving.model}, ${serving.dimensions}, ${serving.storage}),
             ('shadow', ${wanted.model}, ${wanted.dimensions}, ${wanted.storage})
      ON CONFLICT (role) DO UPDATE SET model = excluded.model, dimensions = excluded.dimensions, storage = excluded.storage, retired_at = NULL, updated_at = now()`);
    await createShadowTable(tx, wanted);
    const sameVectors = serving.model === wanted.model && serving.dimensions === wanted.dimensions;
    // Same model and size: the same vectors, only stored otherwise (a cast, no API call).
    const copied = sameVectors ? await copyServing(tx) : 0;
    await createShadowIndexes(tx, wanted.storage);
    return copied;
  });
  const queued = copied ? 0 : await queueShadowMissing(db);
  return { copied, queued };
}

/** The serving set as `embeddings` holds it before any shadow: one model, or the configured one when empty. */
async function currentServing(db: Database, configured: { model: string; dimensions: number }): Promise<EmbeddingSet> {
  const models = await rowsOf<{ model: string; dimensions: number }>(
    db.execute(sql`SELECT DISTINCT model, dimensions FROM embeddings ORDER BY model, dimensions LIMIT 2`),
  );
  if (models.length > 1) {
    throw new BadRequestError(
      `embeddings holds vectors of several models (${models.map((m) => m.model).join(", ")}, …): an in-place re-embedding is under way; let it finish (the status page counts its chunks) before making a shadow`,
    );
  }
  const column = await servingColumn(db);
  const model = models[0] ?? configured;
  return { role: "serving", model: model.model, dimensions: model.dimensions, storage: column.storage, retiredAt: null };
}

/**
 * `LIKE embeddings` brings every column (the generated full text and any filter field included), its
 * defaults and checks; the vector column takes the shadow's type, the id its own sequence (a shared one
 * would tie the two tables together when one is dropped). The privileges are those of `embeddings`:
 * row-level security on, nothing granted that `embeddings` does not grant.
 */
async function createShadowTable(tx: Database, wanted: ShadowRequest) {
  const t = sql.identifier(SHADOW_TABLE);
  const sequence = sql.identifier(`${SHADOW_TABLE}_id_seq`);
  const type = sql.raw(`${wanted.storage}(${Math.trunc(wanted.dimensions)})`);
  await tx.execute(sql`CREATE TABLE ${t} (LIKE embeddings INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS INCLUDING STORAGE)`);
  await tx.execute(sql`ALTER TABLE ${t} ALTER COLUMN id DROP DEFAULT, ALTER COLUMN embedding TYPE ${type}`);
  await tx.execute(sql`CREATE SEQUENCE ${sequence} OWNED BY ${t}.id`);
  // DDL takes no parameters: the name is a constant.
  await tx.execute(sql`ALTER TABLE ${t} ALTER COLUMN id SET DEFAULT nextval(${sql.raw(`'${SHADOW_TABLE}_id_seq'`)}::regclass)`);
  await tx.execute(
    sql`ALTER TABLE ${t} ADD CONSTRAINT ${sql.identifier(`embeddings_pkey${SHADOW_SUFFIX}`)} PRIMARY KEY (id), ENABLE ROW LEVEL SECURITY`,
  );
  await tx.execute(sql`DO $$
DECLARE
  target record;
BEGIN
  FOR target IN
    SELECT DISTINCT a.grantee FROM pg_class c CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
    WHERE c.oid = '${sql.raw(SHADOW_TABLE)}'::regclass AND a.grantee <> c.relowner
  LOOP
    IF target.grantee = 0 THEN EXECUTE 'REVOKE ALL ON ${sql.raw(SHADOW_TABLE)} FROM PUBLIC';
    ELSE EXECUTE format('REVOKE ALL ON ${sql.raw(SHADOW_TABLE)} FROM %I', pg_get_userbyid(target.grantee)); END IF;
  END LOOP;
  FOR target IN
    SELECT a.grantee, a.privilege_type FROM pg_class c CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
    WHERE c.oid = 'embeddings'::regclass AND a.grantee <> c.relowner
  LOOP
    IF target.grantee = 0 THEN EXECUTE format('GRANT %s ON ${sql.raw(SHADOW_TABLE)} TO PUBLIC', target.privilege_type);
    ELSE EXECUTE format('GRANT %s ON ${sql.raw(SHADOW_TABLE)} TO %I', target.privilege_type, pg_get_userbyid(target.grantee)); END IF;
  END LOOP;
END $$`);
}

/**
 * Every index of `embeddings` but its primary key, again on the shadow under the name `<name>_shadow`
 * (the names a switch swaps), the vector index with the shadow's operator class. Built after a copy,
 * so a storage migration builds its HNSW graph once rather than row by row.
 */
async function createShadowIndexes(tx: Database, storage: VectorStorage) {
  const indexes = await rowsOf<{ name: string; definition: string }>(
    tx.execute(sql`SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = 'embeddings'::regclass AND NOT i.indisprimary ORDER BY c.relname`),
  );
  for (const { name, definition } of indexes) {
    const match = /^CREATE (UNIQUE )?INDEX (\S+) ON (ONLY )?(\S+) (.*)$/s.exec(definition);
    if (!match) throw new Error(`cannot read the definition of index ${name}`);
    const rest = match[5]!.replace(/\b(vector|halfvec)_(cosine|l2|ip|l1)_ops\b/g, `${storage}_$2_ops`);
    const shadowName = sql.identifier(`${name}${SHADOW_SUFFIX}`);
    await tx.execute(sql`CREATE ${sql.raw(match[1] ?? "")}INDEX ${shadowName} ON ${sql.identifier(SHADOW_TABLE)} ${sql.raw(rest)}`);
  }
}

/** The serving set's rows into the empty shadow, vectors cast to its type. */
async function copyServing(tx: Database): Promise<number> {
  const columns = await rowsOf<{ name: string }>(
    tx.execute(sql`SELECT attname AS name FROM pg_attribute WHERE attrelid = 'embeddings'::regclass AND attnum > 0
      AND NOT attisdropped AND attgenerated = '' AND attname <> 'id' ORDER BY attnum`),
  );
  const list = sql.join(
    columns.map((c) => sql.identifier(c.name)),
    sql`, `,
  );
  const [row] = await rowsOf<{ n: number }>(
    tx.execute(sql`WITH copied AS (INSERT INTO ${sql.identifier(SHADOW_TABLE)} (${list}) SELECT ${list} FROM embeddings RETURNING 1)
      SELECT count(*)::int AS n FROM copied`),
  );
  return row?.n ?? 0;
}

export type Coverage = {
  /** Chunks of the serving set. */
  servingChunks: number;
  /** Of those, chunks the shadow holds with the same text. */
  covered: number;
  /** Items with at least one chunk the shadow lacks (or holds with other text). */
  missingItems: number;
};

/**
 * How much of the serving set the shadow holds: a chunk is covered when the shadow has the same key
 * with the same text (chunking does not depend on the model, so both sets cut a row alike).
 */
export async function shadowCoverage(db: Database): Promise<Coverage> {
  const [row] = await rowsOf<Coverage>(
    db.execute(sql`SELECT count(*)::int AS "servingChunks",
        count(s.id)::int AS covered,
        count(DISTINCT (e.content_type, e.content_id)) FILTER (WHERE s.id IS NULL)::int AS "missingItems"
      FROM embeddings e LEFT JOIN ${sql.identifier(SHADOW_TABLE)} s
        ON s.content_type = e.content_type AND s.content_id = e.content_id AND s.chunk_index = e.chunk_index AND s.chunk_text = e.chunk_text`),
  );
  return row!;
}

/** Drops the shadow set (a shadow given up on, or a retired set past its grace); true if there was one. */
export async function dropShadow(db: Database): Promise<boolean> {
  return db.transaction(async (tx) => {
    const sets: Sets = await readSets(tx, true);
    await tx.execute(sql`DROP TABLE IF EXISTS ${sql.identifier(SHADOW_TABLE)}`);
    await tx.execute(sql`DELETE FROM embedding_sets WHERE role = 'shadow'`);
    return !!sets.shadow;
  });
}
