// Stage 5: vectors for the chunks that changed, in as few API requests as the provider allows.
import type { Embedder } from "../embedders/embedder.js";
import type { Chunk, EmbeddedChunk } from "./store.js";

export async function embedChunks(embedder: Embedder, chunks: Chunk[]): Promise<EmbeddedChunk[]> {
  if (chunks.length === 0) return [];
  const vectors = await embedder.embed(chunks.map((c) => c.text));
  return chunks.map((chunk, i) => ({ ...chunk, embedding: vectors[i]! }));
}
