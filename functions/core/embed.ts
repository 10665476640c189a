// Stage 5: vectors for the chunks that changed, in as few API requests as the provider allows.
import type { Embedder, Meter } from "../embedders/embedder.js";
import type { Chunk, EmbeddedChunk } from "./store.js";

export type UnusableChunk = Chunk & { error: string };

/**
 * Embeds the chunks and checks every vector: one a column of float32s cannot hold usefully (NaN,
 * infinite, beyond float32's range, all zeros) fails its own chunk, not the batch it came in.
 */
export async function embedChunks(
  embedder: Embedder,
  chunks: Chunk[],
  meter?: Meter,
): Promise<{ embedded: EmbeddedChunk[]; unusable: UnusableChunk[] }> {
  if (chunks.length === 0) return { embedded: [], unusable: [] };
  const vectors = await embedder.embed(
    chunks.map((c) => c.text),
    undefined,
    meter,
  );
  const embedded: EmbeddedChunk[] = [];
  const unusable: UnusableChunk[] = [];
  chunks.forEach((chunk, i) => {
    const fault = vectorFault(vectors[i]!);
    if (fault) unusable.push({ ...chunk, error: `the embedding API returned an unusable vector for chunk ${chunk.chunkIndex}: ${fault}` });
    else embedded.push({ ...chunk, embedding: vectors[i]! });
  });
  return { embedded, unusable };
}

/** Why a vector cannot be stored and searched, or undefined. Names the fault, never a value. */
export function vectorFault(vector: number[]): string | undefined {
  let zero = true;
  for (const x of vector) {
    if (Number.isNaN(x)) return "a value that is not a number";
    if (!Number.isFinite(Math.fround(x))) return "a value beyond float32's range";
    if (Math.fround(x) !== 0) zero = false;
  }
  // Cosine distance to a zero vector is undefined: stored, it would never match anything.
  return zero ? "all zeros" : undefined;
}
