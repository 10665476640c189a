// A deterministic, offline embedder: hashed words, word pairs and character trigrams projected onto
// the configured dimensions. Lexical, not semantic: a query finds documents that share its words.
import { fnv1a } from "../lib/fnv1a.js";
import type { Embedder } from "./embedder.js";

const STOPWORDS = new Set(
  "a an and are as at be by for from has have how i in is it its of on or our that the this to was we what when where which who why will with you your".split(
    " ",
  ),
);

function features(text: string): Map<string, number> {
  const words = (
    text
      .toLowerCase()
      .normalize("NFKD")
      .match(/[\p{L}\p{N}]+/gu) ?? []
  ).filter((w) => !STOPWORDS.has(w));
  const weights = new Map<string, number>();
  const add = (feature: string, weight: number) => weights.set(feature, (weights.get(feature) ?? 0) + weight);
  words.forEach((word, i) => {
    add(`w:${word}`, 1);
    if (i > 0) add(`b:${words[i - 1]} ${word}`, 0.5);
    const padded = ` ${word} `;
    for (let j = 0; j + 3 <= padded.length; j++) add(`c:${padded.slice(j, j + 3)}`, 0.2);
  });
  return weights;
}

/** Stands for a text with no word at all, so that its vector is not zero (a zero vector has no cosine). */
const NO_WORDS = new Map([["\u2205", 1]]);

export function embedLocally(text: string, dimensions: number): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  const found = features(text);
  for (const [feature, weight] of found.size ? found : NO_WORDS) {
    const h = fnv1a(feature);
    // Sub-linear term frequency, and a sign bit so collisions cancel rather than pile up.
    vector[h % dimensions]! += (h & 0x80000000 ? -1 : 1) * Math.log1p(weight);
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((x) => x / norm);
}

/** The local lexical embedder's one model name. */
export const LOCAL_MODEL = "local-lexical-v1";

/**
 * Runs in the function and calls no API: it books one request and its inputs per call, and zero tokens
 * (no tokenizer is asked, and nothing is billed), so a token budget never stops it.
 */
export function localEmbedder(dimensions: number, model = LOCAL_MODEL): Embedder {
  return {
    model,
    dimensions,
    async embed(texts, _budget, meter) {
      const ticket = await meter?.reserve(0);
      const vectors = texts.map((text) => embedLocally(text, dimensions));
      await ticket?.settle({ tokens: 0, inputs: texts.length });
      return vectors;
    },
  };
}
