// One page of keys for the admin listings, from an unordered set of keys: sorted, resumed after a cursor.
import type { KeyPage } from './types.js';

/** Keys of `keys` starting with `prefix`, after `cursor`, in order, `limit` of them. */
export function pageOf(keys: Iterable<string>, prefix: string, cursor: string | null, limit: number): KeyPage {
  const found: string[] = [];
  for (const key of keys) if (key.startsWith(prefix) && (cursor === null || key > cursor)) found.push(key);
  found.sort();
  const page = found.slice(0, Math.max(0, limit));
  return { keys: page, next: found.length > page.length && page.length > 0 ? page[page.length - 1]! : null };
}
