// The unit of work: one source row, named by content type and id.
export type Item = { contentType: string; contentId: string };

export const itemKey = (item: Item) => `${item.contentType}\u0000${item.contentId}`;

/** The items once each, in first-seen order: duplicates in one message cost nothing. */
export function uniqueItems<T extends Item>(items: T[]): T[] {
  return [...new Map(items.map((item) => [itemKey(item), item])).values()];
}

/** One global order of items (type, then id), in which every writer takes their rows' locks. */
export const compareItems = (a: Item, b: Item) => {
  const [x, y] = [itemKey(a), itemKey(b)];
  return x < y ? -1 : x > y ? 1 : 0;
};

export type FailedItem = Item & { error: string };

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
