// pgvector's version, and what each version gives the pipeline. Older Supabase projects run pgvector
// before 0.8, where search's iterative scans do not exist (issue 21). Read at `npm run db:migrate`,
// `npm start` and `npm run doctor`; search itself asks the server in the statement that sets the scan
// (search.ts), so it needs no version at hand.
import { type SQL, sql } from "drizzle-orm";
import { type Database, rowsOf } from "./database.js";

/** The oldest pgvector the migrations run on: the embeddings' index is HNSW (pgvector 0.5.0). */
export const MIN_PGVECTOR = "0.5.0";

/** What the pipeline uses, and the pgvector release that brought it (pgvector's CHANGELOG.md). */
export const PGVECTOR_FEATURES = {
  hnsw: { since: "0.5.0", what: "the HNSW index on embeddings" },
  halfvec: { since: "0.7.0", what: "halfvec (16-bit vectors), for a smaller index" },
  iterativeScan: { since: "0.8.0", what: "iterative index scans (hnsw.iterative_scan), so a filtered search finds enough rows" },
} as const;

export type PgvectorFeature = keyof typeof PGVECTOR_FEATURES;

/** "0.8.0" → [0, 8, 0]; undefined for what is not a version. */
export function parseVersion(version: string): number[] | undefined {
  const match = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(version.trim());
  return match ? [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)] : undefined;
}

/** Whether `version` is at least `since`, part by part ("0.10.0" is after "0.8.0"). */
export function atLeast(version: string, since: string): boolean {
  const a = parseVersion(version);
  const b = parseVersion(since)!;
  if (!a) return false;
  for (let i = 0; i < 3; i++) if (a[i]! !== b[i]!) return a[i]! > b[i]!;
  return true;
}

export type PgvectorSupport = {
  version: string;
  /** Every feature, and whether this version has it. */
  features: Record<PgvectorFeature, boolean>;
  /** Set when this version cannot run the pipeline: what to do. */
  tooOld?: string;
  /** One line for a person: the version, and what it lacks. */
  summary: string;
};

/** What the pipeline gets from pgvector `version`. */
export function pgvectorSupport(version: string): PgvectorSupport {
  const features = Object.fromEntries(
    Object.entries(PGVECTOR_FEATURES).map(([name, feature]) => [name, atLeast(version, feature.since)]),
  ) as Record<PgvectorFeature, boolean>;
  const missing = (Object.keys(PGVECTOR_FEATURES) as PgvectorFeature[]).filter((name) => !features[name]);
  const tooOld = atLeast(version, MIN_PGVECTOR)
    ? undefined
    : `pgvector ${version} is too old: the pipeline needs ${MIN_PGVECTOR} or later for ${PGVECTOR_FEATURES.hnsw.what}. ` +
      "Update it: `ALTER EXTENSION vector UPDATE;` where the server has a newer one (SELECT default_version FROM pg_available_extensions WHERE name = 'vector'), " +
      "or upgrade the server (Supabase: Project Settings → Infrastructure → upgrade Postgres).";
  const lacks = missing.map((name) => `${PGVECTOR_FEATURES[name].what} needs ${PGVECTOR_FEATURES[name].since}`);
  const summary = tooOld ?? `pgvector ${version}${lacks.length ? `: no ${lacks.join("; no ")}` : ": every feature the pipeline uses"}`;
  return { version, features, tooOld, summary };
}

/** SQL: whether the version text `version` is at least `since`, compared part by part as `atLeast` does. */
export function versionAtLeastSql(version: SQL, since: string) {
  return sql`(string_to_array(substring(${version} from '^[0-9]+(?:\.[0-9]+)*'), '.')::int[] >= ${`{${parseVersion(since)!.join(",")}}`}::int[])`;
}

/** SQL: whether the installed pgvector has `feature` (false when it is not installed). */
export function pgvectorHasSql(feature: PgvectorFeature) {
  return sql`coalesce((SELECT ${versionAtLeastSql(sql`extversion`, PGVECTOR_FEATURES[feature].since)} FROM pg_catalog.pg_extension WHERE extname = 'vector'), false)`;
}

/** The installed pgvector's version, or (not installed yet) the one CREATE EXTENSION would install; undefined: none. */
export async function readPgvectorVersion(db: Database): Promise<{ version: string; installed: boolean } | undefined> {
  const [row] = await rowsOf<{ installed: string | null; available: string | null }>(
    db.execute(sql`SELECT (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'vector') AS installed,
      (SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'vector') AS available`),
  );
  if (row?.installed) return { version: row.installed, installed: true };
  if (row?.available) return { version: row.available, installed: false };
  return undefined;
}

/** Reads pgvector and throws, saying what to do, when it is missing or too old; returns what it supports. */
export async function requirePgvector(db: Database): Promise<PgvectorSupport> {
  const found = await readPgvectorVersion(db);
  if (!found) {
    throw new PgvectorError(
      "pgvector is not available on this server: install it (Debian: postgresql-<version>-pgvector; Supabase and Neon ship it: CREATE EXTENSION vector)",
    );
  }
  const support = pgvectorSupport(found.version);
  if (support.tooOld) throw new PgvectorError(support.tooOld);
  return support;
}

export class PgvectorError extends Error {
  override name = "PgvectorError";
}
