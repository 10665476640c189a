// Reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009): a row's fused score is the sum,
// over the rankings it appears in, of weight / (k + rank), rank counted from 1. Only ranks are used,
// so a cosine similarity and a full-text rank, which share no scale, combine without tuning.
import type { Fusion, SearchHit } from "./types.js";

const key = (hit: SearchHit) => `${hit.contentType}\u0000${hit.contentId}`;

/**
 * The rows of both rankings by fused score, best first, at most `limit`. A row's snippet and chunk are
 * the vector half's where it found the row (its best chunk by meaning), else the keyword half's.
 * Ties keep the vector half's order, then the keyword half's.
 */
export function fuseRankings(vector: SearchHit[], keyword: SearchHit[], fusion: Fusion, limit: number): SearchHit[] {
  const fused = new Map<string, SearchHit>();
  for (const [i, hit] of vector.entries()) {
    fused.set(key(hit), { ...hit, score: fusion.vector / (fusion.k + i + 1), vectorScore: hit.score });
  }
  for (const [i, hit] of keyword.entries()) {
    const part = fusion.keyword / (fusion.k + i + 1);
    const found = fused.get(key(hit));
    if (found) {
      found.score += part;
      found.keywordScore = hit.score;
    } else fused.set(key(hit), { ...hit, score: part, keywordScore: hit.score });
  }
  // Array.prototype.sort is stable: equal scores keep insertion order.
  return [...fused.values()].sort((a, b) => b.score - a.score).slice(0, limit);
}
