// Paged lists for `/api/status`, the dashboard and the console tables (issue 9 item 6): one page costs memory
// for `limit` entries only, whatever the number of connections or channels. Connections come in ssid order
// (the order they were accepted in, so a cursor survives closes); channels in key order (a cursor survives
// channels coming and going, since it is a position in the key space, not in a list).

import type { Page } from '../info.js';

export type { Page };

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

/** A `limit` from a query string: a whole number in 1..MAX_PAGE_LIMIT, else the default. */
export function pageLimit(raw: string | undefined): number {
  if (!raw || !/^\d+$/.test(raw)) return DEFAULT_PAGE_LIMIT;
  return raw.length > 7 ? MAX_PAGE_LIMIT : Math.min(MAX_PAGE_LIMIT, Math.max(1, Number(raw)));
}

/**
 * The `limit` items with ssid above `after`. `items` must iterate in ascending ssid order (the server's
 * connection set does: connections are added as they are numbered). `describe` runs for page entries only.
 */
export function pageBySsid<S extends { readonly ssid: number }, T>(
  items: Iterable<S>,
  after: number,
  limit: number,
  describe: (item: S) => T,
): Page<T, number> {
  const page: T[] = [];
  let last = after;
  for (const item of items) {
    if (item.ssid <= after) continue;
    if (page.length === limit) return { items: page, next: last };
    page.push(describe(item));
    last = item.ssid;
  }
  return { items: page, next: null };
}

/**
 * The `limit` smallest keys above `after` (null = from the start), in order. Keeps at most 2 × limit
 * candidates at a time, so memory stays bounded by the page, not by the map.
 */
export function pageByKey<V, T>(
  map: ReadonlyMap<string, V>,
  after: string | null,
  limit: number,
  describe: (key: string, value: V) => T,
): Page<T, string> {
  let candidates: string[] = [];
  let ceiling: string | null = null;
  const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  for (const key of map.keys()) {
    if (after !== null && key <= after) continue;
    if (ceiling !== null && key >= ceiling) continue;
    candidates.push(key);
    if (candidates.length >= 2 * (limit + 1)) {
      candidates.sort(byKey);
      candidates = candidates.slice(0, limit + 1);
      ceiling = candidates[limit]!;
    }
  }
  candidates.sort(byKey);
  const more = candidates.length > limit;
  const keys = more ? candidates.slice(0, limit) : candidates;
  return { items: keys.map((key) => describe(key, map.get(key)!)), next: more ? keys[keys.length - 1]! : null };
}

/** The first `limit` entries of any iterable, without walking the rest. */
export function firstOf<S, T>(items: Iterable<S>, limit: number, describe: (item: S) => T): T[] {
  const out: T[] = [];
  if (limit <= 0) return out;
  for (const item of items) {
    out.push(describe(item));
    if (out.length >= limit) break;
  }
  return out;
}
