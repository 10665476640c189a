// POST /api/embeddings/search: the best matching chunk of each source row, by cosine similarity
// through the HNSW index, logged to search_log.
import { sql } from "drizzle-orm";
import { SearchRequestSchema } from "../schema/messages";
import { searchLog } from "../schema/pipeline-tables";
import { rowsOf } from "./db/database";
import type { Deps } from "./deps";
import { requireSecret } from "./lib/auth";
import { createApp, Status } from "./lib/create-app";
import { BadRequestError } from "./lib/errors";
import { parseBody } from "./lib/validate";

export type SearchHit = { contentType: string; contentId: string; score: number; snippet: string; chunkIndex: number };

export async function search(deps: Deps, request: { query: string; types?: string[]; limit: number; minScore: number }) {
  const started = Date.now();
  const unknown = request.types?.filter((t) => !deps.registry.byType(t));
  if (unknown?.length) throw new BadRequestError(`unknown content type: ${unknown.join(", ")}`);
  const [vector] = await deps.embedder.embed([request.query]);
  // Several chunks of one row may lead; fetch extra candidates so `limit` distinct rows remain.
  const candidates = request.limit * 4;
  const rows = await deps.db.transaction(async (tx) => {
    await tx.execute(sql`SELECT set_config('hnsw.ef_search', ${String(Math.max(40, Math.min(candidates, 1000)))}, true)`);
    await tx.execute(sql`SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)`);
    return rowsOf<{ content_type: string; content_id: string; chunk_index: number; chunk_text: string; distance: number }>(tx.execute(sql`
      SELECT content_type, content_id, chunk_index, chunk_text, embedding <=> ${JSON.stringify(vector)}::vector AS distance
      FROM embeddings
      WHERE model = ${deps.embedder.model}
        ${request.types?.length ? sql`AND content_type IN (${sql.join(request.types.map((t) => sql`${t}`), sql`, `)})` : sql``}
      ORDER BY embedding <=> ${JSON.stringify(vector)}::vector
      LIMIT ${candidates}`));
  });
  const best = new Map<string, SearchHit>();
  for (const row of rows) {
    const key = `${row.content_type}\u0000${row.content_id}`;
    const score = 1 - Number(row.distance);
    if (score < request.minScore || best.has(key)) continue;
    best.set(key, { contentType: row.content_type, contentId: row.content_id, score, chunkIndex: row.chunk_index, snippet: snippet(row.chunk_text) });
  }
  const results = [...best.values()].sort((a, b) => b.score - a.score).slice(0, request.limit);
  const milliseconds = Date.now() - started;
  await deps.db.insert(searchLog).values({ query: request.query, contentTypes: request.types ?? null, resultCount: results.length, milliseconds });
  return { results, milliseconds };
}

const snippet = (text: string) => (text.length > 240 ? `${text.slice(0, 237).trimEnd()}…` : text);

export function createSearchApp(deps: Deps) {
  return createApp().post("/search", requireSecret(deps.config.searchToken, "SEARCH_TOKEN", { optional: true }), async (c) =>
    c.json(await search(deps, parseBody(SearchRequestSchema, await c.req.text())), Status.ok));
}
