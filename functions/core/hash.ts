// Stage 4: a chunk's identity. The model and dimensions are part of it, so changing either re-embeds.
export async function contentHash(text: string, model: string, dimensions: number): Promise<string> {
  const bytes = new TextEncoder().encode(`${model}\n${dimensions}\n${text}`);
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
