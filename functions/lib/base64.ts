// Base64 and base64url text to a string, as UTF-8, or to float32s: the edge has atob but no Buffer.

/** The bytes of base64 text, by atob (which throws on anything else). */
const atobBytes = (text: string) => Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));

/** Decodes base64 or base64url (padding optional); throws on anything else. */
export function decodeBase64Text(text: string): string {
  return new TextDecoder().decode(atobBytes(text.replace(/-/g, "+").replace(/_/g, "/")));
}

/**
 * The little-endian float32s of OpenAI's base64 embeddings as numbers. Decoded by Buffer where there is
 * one (Node; atob elsewhere), then read by a loop: `Array.from` of a Float32Array, as the openai SDK
 * decodes, takes about 4× as long (~115 against ~30–40 ms for 1,000 vectors of 1,536).
 */
export function decodeFloat32Base64(text: string): number[] {
  const NodeBuffer = (globalThis as { Buffer?: { from(text: string, encoding: "base64"): Uint8Array } }).Buffer;
  const bytes = NodeBuffer ? NodeBuffer.from(text, "base64") : atobBytes(text);
  if (bytes.byteLength % 4 !== 0) throw new Error(`a base64 embedding of ${bytes.byteLength} bytes is not whole float32s`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const vector = new Array<number>(bytes.byteLength / 4);
  for (let i = 0; i < vector.length; i++) vector[i] = view.getFloat32(i * 4, true);
  return vector;
}
