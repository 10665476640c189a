// The unit of work: one source row, named by content type and id.
import * as v from "valibot";

export type Item = { contentType: string; contentId: string };

export const itemKey = (item: Item) => `${item.contentType}\u0000${item.contentId}`;

/** The items once each, in first-seen order: duplicates in one message cost nothing. */
export function uniqueItems<T extends Item>(items: T[]): T[] {
  return [...new Map(items.map((item) => [itemKey(item), item])).values()];
}

export type FailedItem = Item & { error: string };

/** An id as webhooks send it: a string, or a number that we keep as its decimal text. */
export const ContentIdSchema = v.pipe(
  v.union([v.pipe(v.string(), v.trim(), v.minLength(1, "must not be empty"), v.maxLength(200, "is too long")), v.pipe(v.number(), v.integer(), v.safeInteger())], "must be a string or an integer"),
  v.transform(String),
);

/** Groups values by a key, keeping first-seen order (Map.groupBy needs Node 21). */
export function groupBy<T, K>(values: T[], key: (value: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const value of values) {
    const k = key(value);
    const group = groups.get(k);
    if (group) group.push(value);
    else groups.set(k, [value]);
  }
  return groups;
}
