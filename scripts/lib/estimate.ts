// `npm run backfill -- --estimate`: what a backfill would cost before anything is spent. Reads every row
// as the pipeline would (load, format, size limit, chunk, hash), counts the chunks whose stored embedding
// is not current (only those are sent), their tokens by the embedder's estimate (estimateTokens, the one
// the request packing uses; deliberately high against OpenAI's tokenizer) and the money at the configured
// price. The local embedder books zero tokens (functions/embedders/local.ts), so it estimates zero.
import { asc, gt } from "drizzle-orm";
import type { Config } from "../../functions/config";
import { chunkText, DEFAULT_CHUNKING } from "../../functions/core/chunk";
import { formatRows } from "../../functions/core/format";
import { contentHash } from "../../functions/core/hash";
import { loadRows } from "../../functions/core/load";
import { chunkKey, storedHashes } from "../../functions/core/store";
import { pricePerMillion, usdOf } from "../../functions/cost/prices";
import type { Database } from "../../functions/db/database";
import { type Embedder, estimateTokens, OPENAI_LIMITS, packRequests } from "../../functions/embedders/embedder";
import type { ContentType, Registry } from "../../schema/registry";

export type Estimate = {
  rows: number;
  /** Rows with text to embed, within the size limit. */
  documents: number;
  chunks: number;
  /** Chunks whose stored embedding is missing or stale: what the backfill sends. */
  chunksToEmbed: number;
  tokens: number;
  /** Requests at the provider's per-request limits, as the pipeline packs them (per batch of rows). */
  requests: number;
  /** At the configured price; null when the model has none (EMBEDDING_PRICES). */
  usd: number | null;
  model: string;
};

export async function estimateBackfill(
  deps: { db: Database; registry: Registry; embedder: Embedder; config: Config },
  entries: ContentType[],
  batchSize = 500,
): Promise<Estimate> {
  const { db, registry, embedder, config } = deps;
  const counted = embedder.model === "local-lexical-v1" || config.provider === "local" ? () => 0 : estimateTokens;
  const total = { rows: 0, documents: 0, chunks: 0, chunksToEmbed: 0, tokens: 0, requests: 0 };
  for (const entry of entries) {
    let after: string | undefined;
    for (;;) {
      const rows = (await db
        .select({ id: entry.idColumn })
        .from(entry.table)
        .where(after === undefined ? undefined : gt(entry.idColumn, after))
        .orderBy(asc(entry.idColumn))
        .limit(batchSize)) as { id: unknown }[];
      if (rows.length === 0) break;
      after = String(rows.at(-1)!.id);
      const items = rows.map((r) => ({ contentType: entry.type, contentId: String(r.id) }));
      const { documents } = formatRows((await loadRows(db, registry, items)).found);
      const fitting = documents.filter((d) => new TextEncoder().encode(d.text).length <= config.process.maxRowBytes);
      const stored = await storedHashes(
        db,
        fitting.map((d) => d.item),
      );
      const texts: string[] = [];
      for (const { item, text } of fitting) {
        for (const [chunkIndex, chunk] of chunkText(text, DEFAULT_CHUNKING).entries()) {
          total.chunks++;
          const hash = await contentHash(chunk, embedder.model, embedder.dimensions);
          if (stored.get(chunkKey({ ...item, chunkIndex })) !== hash) texts.push(chunk);
        }
      }
      total.rows += rows.length;
      total.documents += fitting.length;
      total.chunksToEmbed += texts.length;
      total.tokens += texts.reduce((sum, text) => sum + counted(text), 0);
      total.requests += packRequests(texts, OPENAI_LIMITS).length;
    }
  }
  const priced = pricePerMillion(config.cost.prices, embedder.model) !== null;
  return { ...total, usd: priced ? usdOf(config.cost.prices, embedder.model, total.tokens) : null, model: embedder.model };
}

/** The estimate as the script prints it. */
export function formatEstimate(e: Estimate): string {
  const money = e.usd === null ? `no price for ${e.model} (set EMBEDDING_PRICES)` : `$${e.usd.toFixed(4)}`;
  return [
    `Backfill estimate (nothing queued, nothing spent), model ${e.model}:`,
    `  ${e.rows} rows, ${e.documents} with text; ${e.chunks} chunks, ${e.chunksToEmbed} to embed (the rest are current)`,
    `  about ${e.tokens} tokens in ${e.requests} requests: ${money} at the live price`,
  ].join("\n");
}
