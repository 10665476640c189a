// Base64 and base64url text to a string, as UTF-8: the edge has atob but no Buffer.

/** Decodes base64 or base64url (padding optional); throws on anything else. */
export function decodeBase64Text(text: string): string {
  const bytes = Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}
