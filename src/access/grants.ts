// Rights that come with one session: a JWT's rights claim or an auth hook's answer (README, Access control, "Rights
// from a token or a hook"). Two JSON forms are read:
//   { "subscribe": ["sensors/#"], "publish": ["dev/{did}/#"], "deny": { "publish": ["dev/{did}/config"] } }
//   [ { "permission": "allow", "action": "publish", "topic": "dev/{did}/#" }, … ]   (EMQX's shape; action `all`)
// Patterns are the ACL's. A right that a session's rights allow anywhere is closed to that session everywhere
// else (a token that says where it may publish may publish nowhere else); rights they do not name follow the ACL.
import { parseChannelPattern, parseServicePattern, PatternError, type Pattern } from './pattern.js';
import { isRight, RIGHTS, RightsError, rightsForPattern, type Right } from './rights.js';
import { rightsMask, type Effect, type Rule } from './rules.js';

/** Most patterns one session may carry. */
export const MAX_GRANT_PATTERNS = 256;

/** Rights that come with one session (a JWT claim, a hook answer). */
export interface Grants {
  /** Rules of this session only (subject -1: they apply to it alone). */
  readonly rules: readonly Rule[];
  /** Rights that some allow entry names (bit per RIGHT_INDEX): outside them the session is refused. */
  readonly allowed: number;
}

/** A rights value that cannot be read (the message says why). */
export class GrantsError extends Error {}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

class GrantBuilder {
  readonly rules: Rule[] = [];
  allowed = 0;

  add(effect: Effect, action: string, raw: unknown): void {
    if (typeof raw !== 'string' || raw === '') throw new GrantsError(`${action}: patterns must be non-empty strings`);
    if (this.rules.length >= MAX_GRANT_PATTERNS) throw new GrantsError(`more than ${MAX_GRANT_PATTERNS} patterns`);
    let rights: Right[];
    let pattern: Pattern;
    if (action === 'call') {
      pattern = parseServicePattern(raw);
      rights = ['call'];
    } else {
      pattern = parseChannelPattern(raw);
      const all = action === 'all';
      if (!all && !isRight(action)) throw new GrantsError(`unknown right "${action}" (${RIGHTS.join(', ')}, all)`);
      rights = rightsForPattern(all ? [...RIGHTS] : [action as Right], all, pattern);
    }
    if (rights.length === 0) return;
    const mask = rightsMask(rights);
    this.rules.push({ line: 0, effect, subject: -1, rights: mask, pattern });
    if (effect === 'allow') this.allowed |= mask;
  }

  byRight(effect: Effect, map: Record<string, unknown>): void {
    for (const [action, list] of Object.entries(map)) {
      if (effect === 'allow' && action === 'deny') continue;
      const patterns = typeof list === 'string' ? [list] : list;
      if (!Array.isArray(patterns)) throw new GrantsError(`${action}: expected a list of patterns`);
      for (const raw of patterns) this.add(effect, action, raw);
    }
  }
}

/** Reads a rights value; null for null/undefined (no rights of its own). Throws GrantsError with the reason. */
export function parseGrants(value: unknown): Grants | null {
  if (value === undefined || value === null) return null;
  const builder = new GrantBuilder();
  try {
    if (Array.isArray(value)) {
      for (const entry of value) {
        if (!isRecord(entry)) throw new GrantsError('each entry must be an object {permission, action, topic}');
        const { permission, action, topic } = entry;
        if (permission !== 'allow' && permission !== 'deny') throw new GrantsError('permission must be allow or deny');
        if (typeof action !== 'string') throw new GrantsError('action must be a string');
        builder.add(permission, action, topic ?? entry['pattern']);
      }
    } else if (isRecord(value)) {
      builder.byRight('allow', value);
      const deny = value['deny'];
      if (deny !== undefined) {
        if (!isRecord(deny)) throw new GrantsError('deny must be an object of rights');
        builder.byRight('deny', deny);
      }
    } else {
      throw new GrantsError('rights must be an object of rights or a list of entries');
    }
  } catch (err) {
    if (err instanceof PatternError || err instanceof RightsError) throw new GrantsError(err.message);
    throw err;
  }
  return { rules: builder.rules, allowed: builder.allowed };
}
