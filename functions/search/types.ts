// What a search asks and what it finds, shared by the router (functions/search.ts) and its halves.
import { sql } from "drizzle-orm";
import type { SearchMode } from "../../schema/messages.js";
import type { SearchFilters } from "./filters.js";

/**
 * `score`: the mode's own (cosine similarity, full-text rank, or the fused score); a hybrid hit also
 * carries each half's score where that half found it.
 */
export type SearchHit = {
  contentType: string;
  contentId: string;
  score: number;
  snippet: string;
  chunkIndex: number;
  vectorScore?: number;
  keywordScore?: number;
};

export type Fusion = { k: number; vector: number; keyword: number };

export type SearchRequest = {
  query: string;
  /** The types it may look in, already scoped to what the caller may see; undefined for all. */
  types?: string[];
  limit: number;
  minScore: number;
  mode?: SearchMode;
  fusion?: Fusion;
  /** The request's filters, resolved against the registry (filters.ts); both halves apply them. */
  filters?: SearchFilters;
};

/** One half's answer: its hits best first, and the models it met that it could not compare with. */
export type Ranking = { hits: SearchHit[]; otherModels: string[] };

/** A snippet of at most 240 characters. */
export const snippet = (text: string): string => (text.length > 240 ? `${text.slice(0, 237).trimEnd()}…` : text);

/**
 * A chunk's text as far as `snippet` reads it: its first 241 characters, so a long chunk is still cut
 * (the same snippet as of the whole text: a character is one or two of JavaScript's), and a search
 * reads ~240 characters a row, not the chunk.
 */
export const snippetSource = sql`left(chunk_text, 241)`;
