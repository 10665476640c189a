// Vectors with the structure of real text embeddings, for recall figures that mean something: the local
// embedder's texts share 70 words, so every row is about as far from a query as any other and HNSW has
// no gradient to follow (BENCHMARKS.md §5). Here each row is a point of a 48-dimensional latent space
// near one of 200 topic centroids (texts about the same things), and a model is a fixed random
// projection of it to its size plus per-row noise, normalised: real embeddings have a low intrinsic
// dimension. Deterministic from the seeds; nothing downloaded.
import type { Embedder } from "../functions/embedders/embedder";
import { seededRandom } from "./corpus";

export const LATENT = 48;
const TOPICS = 200;
/** A row's spread around its topic, in the latent space (the centroids are standard normal). */
const SPREAD = 0.6;
/** Noise added to each dimension of a projected vector (a projected dimension's own spread is ~8). */
const NOISE = 2;

const gaussianOf = (random: () => number) => () => Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());

/** A model: latent point → its vector (normalised, six decimals), by a fixed projection and per-row noise. */
export function projection(dimensions: number, seed: number) {
  const matrix = Float64Array.from({ length: dimensions * LATENT }, gaussianOf(seededRandom(seed)));
  return (z: Float64Array, noiseSeed: number) => {
    const noise = gaussianOf(seededRandom(noiseSeed));
    const v = new Array<number>(dimensions);
    let norm = 0;
    for (let d = 0; d < dimensions; d++) {
      let x = 0;
      for (let l = 0; l < LATENT; l++) x += matrix[d * LATENT + l]! * z[l]!;
      x += NOISE * noise();
      v[d] = x;
      norm += x * x;
    }
    norm = Math.sqrt(norm);
    return v.map((x) => Number((x / norm).toFixed(6)));
  };
}

/**
 * Points near the topics of `seed`, drawn one at a time (so a large corpus need not be held at once);
 * with `drawSeed`, another sequence of draws near the same topics (queries beside the rows).
 */
export function latentSource(seed: number, drawSeed?: number): () => Float64Array {
  const topicsRandom = seededRandom(seed);
  const topicGaussian = gaussianOf(topicsRandom);
  const topics = Array.from({ length: TOPICS }, () => Float64Array.from({ length: LATENT }, topicGaussian));
  const random = drawSeed === undefined ? topicsRandom : seededRandom(drawSeed);
  const gaussian = drawSeed === undefined ? topicGaussian : gaussianOf(random);
  return () => {
    const topic = topics[Math.floor(random() * topics.length)]!;
    return Float64Array.from(topic, (t) => t + SPREAD * gaussian());
  };
}

/** `n` points of `latentSource(seed)`. */
export function latentPoints(n: number, seed: number): Float64Array[] {
  const next = latentSource(seed);
  return Array.from({ length: n }, next);
}

/**
 * A corpus of one model: row i's vector (drawn in order: call for i = 0, 1, … once each), and an
 * embedder whose query vectors are other draws near the same topics, one per distinct query text
 * (`vectorOf` gives the same vector again, for the exact scan a search is checked against).
 */
export function clusteredCorpus(seed: number, dimensions: number, model = "bench-clustered") {
  const project = projection(dimensions, seed);
  const rows = latentSource(seed + 1);
  const queryPoints = latentSource(seed + 1, seed + 2);
  const queries = new Map<string, number[]>();
  const vectorOf = (text: string) => {
    let vector = queries.get(text);
    if (!vector) queries.set(text, (vector = project(queryPoints(), 2_000_000_000 - queries.size)));
    return vector;
  };
  const embedder: Embedder = { model, dimensions, embed: async (texts) => texts.map(vectorOf) };
  return { rowVector: (i: number) => project(rows(), seed * 10_000_000 + i), vectorOf, embedder };
}
