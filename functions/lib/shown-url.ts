// How a configured URL appears in a log, an error or the status page.
/** A URL as it is safe to show: a user name, password or query value in it may be a credential. */
export function shownUrl(text: string | undefined): string | null {
  if (!text) return null;
  const url = new URL(text);
  if (!url.username && !url.password && !url.search) return text;
  if (url.username) url.username = "redacted";
  if (url.password) url.password = "redacted";
  for (const key of new Set(url.searchParams.keys())) url.searchParams.set(key, "redacted");
  return url.toString();
}
