// QStash refuses a deduplication id with ':' (400 "DeduplicationId cannot contain ':'", reported from
// batchJSON in superset-sh/superset #3591): ours keep to [A-Za-z0-9_-], whatever the ids they are made of.

/**
 * A deduplication id of these parts: letters, digits and '-' stay; any other character becomes '_' and
 * its code point in six hex digits; parts are joined with '__', which no escaped part contains (an
 * escape's '_' is always followed by a hex digit), so different parts never give the same id.
 */
export function deduplicationId(...parts: (string | number)[]): string {
  return parts
    .map((part) => String(part).replace(/[^A-Za-z0-9-]/gu, (ch) => `_${ch.codePointAt(0)!.toString(16).padStart(6, "0")}`))
    .join("__");
}
