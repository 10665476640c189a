// FNV-1a, 32 bits: fast, stable across runtimes, edge-safe. The local embedder hashes its features with
// it, and the item locks their keys (functions/db/conflicts.ts).
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}
