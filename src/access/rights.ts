// The rights a rule grants or denies, and which kinds of object each applies to (README, Access control, "Rights").
import type { ObjectKind, Pattern } from './pattern.js';

/** Every right, in the order of RIGHT_INDEX. */
export const RIGHTS = ['subscribe', 'publish', 'retain', 'send', 'call'] as const;
/** One of RIGHTS. */
export type Right = (typeof RIGHTS)[number];

/** Index of a right in per-right arrays (caches, indexes). */
export const RIGHT_INDEX: Readonly<Record<Right, number>> = Object.freeze({ subscribe: 0, publish: 1, retain: 2, send: 3, call: 4 });

/** The kinds of object each right can touch. */
const KINDS_OF: Readonly<Record<Right, readonly ObjectKind[]>> = {
  subscribe: ['channel', 'home', 'cid'],
  publish: ['channel', 'home'],
  retain: ['channel', 'home', 'cid'],
  send: ['cid'],
  call: ['service'],
};

/** A rights list that cannot be read (the message says why). */
export class RightsError extends Error {}

/** Whether a word names a right. */
export const isRight = (word: string): word is Right => (RIGHTS as readonly string[]).includes(word);

/** `subscribe,publish` / `all` → the named rights, in RIGHTS order; `all` is kept as a flag (it adapts to the pattern). */
export function parseRights(raw: string): { rights: Right[]; all: boolean } {
  const words = raw.split(',');
  if (words.includes('all')) {
    if (words.length > 1) throw new RightsError(`"${raw}": "all" stands alone`);
    return { rights: [...RIGHTS], all: true };
  }
  const seen = new Set<Right>();
  for (const word of words) {
    if (!isRight(word)) throw new RightsError(`unknown right "${word}" (${RIGHTS.join(', ')}, or all)`);
    seen.add(word);
  }
  return { rights: RIGHTS.filter((r) => seen.has(r)), all: false };
}

/**
 * The rights of a rule that a pattern can meet. `all` narrows to the rights of the pattern's kind; a right named
 * explicitly that cannot meet the pattern is an error, with the form that would.
 */
export function rightsForPattern(rights: readonly Right[], all: boolean, pattern: Pattern): Right[] {
  if (pattern.kind === 'any') return [...rights];
  const kind = pattern.kind;
  if (all) return rights.filter((r) => KINDS_OF[r].includes(kind));
  for (const right of rights) {
    if (KINDS_OF[right].includes(kind)) continue;
    throw new RightsError(mismatch(right, pattern));
  }
  return [...rights];
}

function mismatch(right: Right, pattern: Pattern): string {
  const what = `${right} cannot apply to "${pattern.source}"`;
  if (right === 'send') return `${what}: send names <cid>@<topic> (a unicast) or @<topic> (one's own CID publish)`;
  if (right === 'publish') return `${what}: publishing to <cid>@<topic> is a unicast or a CID publish, granted by send`;
  return `${what}: call names services, and is written on a line of its own`;
}
