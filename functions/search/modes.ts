// A search's mode decides which halves run: vector (the HNSW or exact scan, functions/search.ts),
// keyword (Postgres full text, keyword.ts), or both fused by reciprocal rank (fusion.ts). Both halves
// get the same scoped request, so every rule on what a caller may find applies to each.
import type { SQL } from "drizzle-orm";
import type { Registry } from "../../schema/registry.js";
import type { Database } from "../db/database.js";
import { fuseRankings } from "./fusion.js";
import { type KeywordRow, keywordHits, keywordRanking, keywordStatement } from "./keyword.js";
import type { SearchLogEntry } from "./log.js";
import type { Fusion, Ranking, SearchRequest } from "./types.js";

/**
 * The vector half, as functions/search.ts serves it (with the re-embedding rules of a model switch).
 * Given the keyword half's statement, it runs it in its own first statement and returns its rows;
 * given `log`, its scan writes the search's log row (functions/search/log.ts), counting the keyword rows too.
 */
export type VectorHalf = (request: SearchRequest, keyword?: SQL, log?: SearchLogEntry) => Promise<Ranking & { keywordRows?: KeywordRow[] }>;

export const DEFAULT_FUSION: Fusion = { k: 60, vector: 1, keyword: 1 };

/**
 * Rows each half ranks before fusion: fusion rewards rows both halves rank well, so each looks past
 * `limit` (at least 20, as RRF is usually run on the top tens of each list), up to 100.
 */
export const fusionDepth = (limit: number) => Math.min(100, Math.max(2 * limit, 20));

/**
 * The hits of `request.mode` (hybrid unless said), best first, at most `request.limit`, and whether the
 * statement that read them also wrote `log` (else the caller writes it).
 */
export async function rankByMode(
  db: Database,
  registry: Registry,
  request: SearchRequest,
  vectorHalf: VectorHalf,
  log?: SearchLogEntry,
): Promise<Ranking & { logged: boolean }> {
  const mode = request.mode ?? "hybrid";
  if (mode === "vector") return { ...(await vectorHalf(request, undefined, log)), logged: !!log };
  if (mode === "keyword") return { hits: await keywordRanking(db, registry, request, log), otherModels: [], logged: !!log };
  const fusion = request.fusion ?? DEFAULT_FUSION;
  const deeper = { ...request, limit: fusionDepth(request.limit) };
  // A half of weight 0 adds nothing to any score: it is not run. Both run on one connection, the
  // keyword half inside the vector half's transaction (one round trip, BENCHMARKS.md §5).
  // The log row counts the fused rows: `log.limit` is the request's, not the halves' depth.
  if (fusion.vector <= 0) {
    const keyword = fusion.keyword > 0 ? await keywordRanking(db, registry, deeper, log) : [];
    return { hits: fuseRankings([], keyword, fusion, request.limit), otherModels: [], logged: fusion.keyword > 0 && !!log };
  }
  const vector = await vectorHalf(deeper, fusion.keyword > 0 ? keywordStatement(registry, deeper) : undefined, log);
  const keyword = keywordHits(vector.keywordRows ?? [], deeper.limit);
  return { hits: fuseRankings(vector.hits, keyword, fusion, request.limit), otherModels: vector.otherModels, logged: !!log };
}
