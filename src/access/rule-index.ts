// Finds the rules whose pattern may name an object without trying every rule: a trie over pattern levels per
// kind. Literal levels are map edges; `+` and placeholder levels share a wildcard edge (a placeholder is checked
// against its subject afterwards); `#` rules sit on the node where their `#` is. The walk returns a superset that
// patternMatches() confirms, so the index only has to be fast, never exact.
import type { AccessObject, ObjectKind, Pattern } from './pattern.js';

interface Node<R> {
  lit: Map<string, Node<R>> | null;
  wild: Node<R> | null;
  /** Rules whose pattern ends with `#` here: they match whatever follows. */
  rest: R[];
  /** Rules whose pattern ends exactly here. */
  end: R[];
}

const node = <R>(): Node<R> => ({ lit: null, wild: null, rest: [], end: [] });

/** A trie over pattern levels: the rules that may name an object. */
export class RuleIndex<R extends { readonly pattern: Pattern }> {
  private readonly roots = new Map<ObjectKind, Node<R>>();
  /** Rules with the pattern `*`. */
  private readonly everywhere: R[] = [];
  size = 0;

  add(rule: R): void {
    this.size++;
    const { pattern } = rule;
    if (pattern.kind === 'any') {
      this.everywhere.push(rule);
      return;
    }
    let at = this.roots.get(pattern.kind);
    if (!at) this.roots.set(pattern.kind, (at = node()));
    for (const level of pattern.levels) {
      if (level.t === 'rest') {
        at.rest.push(rule);
        return;
      }
      if (level.t === 'lit') {
        at.lit ??= new Map();
        let next = at.lit.get(level.text);
        if (!next) at.lit.set(level.text, (next = node()));
        at = next;
      } else {
        at = at.wild ??= node();
      }
    }
    at.end.push(rule);
  }

  /** Every rule that may name `object` (calls `visit` once per candidate; stops early when it returns true). */
  candidates(object: AccessObject, visit: (rule: R) => boolean): void {
    for (const rule of this.everywhere) if (visit(rule)) return;
    const root = this.roots.get(object.kind);
    if (root) walk(root, object.levels, 0, visit);
  }
}

/** Returns true when `visit` asked to stop. */
function walk<R>(at: Node<R>, levels: readonly string[], i: number, visit: (rule: R) => boolean): boolean {
  for (const rule of at.rest) if (visit(rule)) return true;
  if (i === levels.length) {
    for (const rule of at.end) if (visit(rule)) return true;
    return false;
  }
  const lit = at.lit?.get(levels[i]!);
  if (lit && walk(lit, levels, i + 1, visit)) return true;
  return at.wild !== null && walk(at.wild, levels, i + 1, visit);
}
