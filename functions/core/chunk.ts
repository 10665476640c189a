// Stage 3: split long text into chunks that fit the model, with overlap so no sentence loses context.
import { estimateTokens } from "../embedders/embedder.js";

export type ChunkOptions = { maxTokens: number; overlapTokens: number };

/** Chunks of about 500 tokens: well under every embedding model's input limit, and precise to search. */
export const DEFAULT_CHUNKING: ChunkOptions = { maxTokens: 500, overlapTokens: 50 };

/** Splits text at paragraph, then sentence, then word boundaries; short text is one chunk. */
export function chunkText(text: string, options: ChunkOptions = DEFAULT_CHUNKING): string[] {
  const trimmed = text.trim();
  if (estimateTokens(trimmed) <= options.maxTokens) return trimmed ? [trimmed] : [];
  // Words keep their trailing whitespace so chunks rejoin exactly; an over-long word is cut up.
  const words = (trimmed.match(/\S+\s*/g) ?? []).flatMap((word) => splitLongWord(word, options.maxTokens));
  const costs = words.map(estimateTokens);
  const chunks: string[] = [];
  let start = 0;
  while (start < words.length) {
    let end = start;
    let tokens = 0;
    while (end < words.length && tokens + costs[end]! <= options.maxTokens) tokens += costs[end++]!;
    if (end === start) end = start + 1;
    if (end < words.length) end = preferredBreak(words, start, end);
    chunks.push(words.slice(start, end).join("").trim());
    if (end >= words.length) break;
    // Step back over the overlap, but always move forward.
    let next = end;
    for (let overlap = 0; next > start + 1 && overlap + costs[next - 1]! <= options.overlapTokens; ) overlap += costs[--next]!;
    start = next;
  }
  return chunks;
}

/** Moves a chunk's end back to a paragraph or sentence end in its last third, where there is one. */
function preferredBreak(words: string[], start: number, end: number): number {
  const floor = start + Math.ceil(((end - start) * 2) / 3);
  for (const boundary of [/\n\s*\n\s*$/, /[.!?]["')\]]?\s+$/]) {
    for (let i = end; i > floor; i--) if (boundary.test(words[i - 1]!)) return i;
  }
  return end;
}

function splitLongWord(word: string, maxTokens: number): string[] {
  if (estimateTokens(word) <= maxTokens) return [word];
  const pieces: string[] = [];
  const chars = [...word];
  // One token per character is the estimate's worst case, so this many characters always fit.
  for (let i = 0; i < chars.length; i += maxTokens) pieces.push(chars.slice(i, i + maxTokens).join(""));
  return pieces;
}
