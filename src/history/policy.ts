// Which channels keep a history, and how much: `--history <pattern>=<count>[/<seconds>]`, repeatable, the first
// matching pattern wins. Patterns are the access rules' channel patterns (README, Access control: `+` one level, `#` the
// rest, `#lab/+` a home channel, `D1@temp/#` a device's CID channel), without placeholders: a history is the
// channel's, not a reader's. Deciding costs a pattern walk once per channel key, then a Map lookup.
import { objectOfKey, parseChannelPattern, patternMatches, PatternError, type Pattern } from '../access/pattern.js';

/** What one channel keeps: the last `count` signals (0: no count bound) and none older than `maxAgeMs` (0: no age bound). */
export interface HistoryLimits {
  readonly count: number;
  readonly maxAgeMs: number;
}

export interface HistoryRule {
  readonly pattern: Pattern;
  readonly limits: HistoryLimits;
}

/** Bounds of one rule. */
export const MAX_HISTORY_COUNT = 1_000_000;
export const MAX_HISTORY_SECONDS = 365 * 24 * 3600;
/** Channel keys whose decision is cached; past it the cache starts over (a flood of names costs walks, not memory). */
const DECISION_CACHE = 65_536;
/** The empty binding: history patterns have no placeholders. */
const NO_BINDING = { cid: '', did: '' } as const;

function wholeNumber(text: string, what: string, max: number, spec: string): number {
  if (!/^\d+$/.test(text)) throw new Error(`--history "${spec}": ${what} must be a whole number, got "${text}"`);
  const n = Number(text);
  if (n > max) throw new Error(`--history "${spec}": ${what} is at most ${max}`);
  return n;
}

/** `<pattern>=<count>[/<seconds>]` → a rule; throws an Error naming the flag and what is wrong. */
export function parseHistoryRule(spec: string): HistoryRule {
  const eq = spec.lastIndexOf('=');
  if (eq <= 0) throw new Error(`--history "${spec}": expected <pattern>=<count>[/<seconds>], e.g. "chat/#=100" or "sensor/+=0/3600"`);
  const [countText = '', secondsText, extra] = spec.slice(eq + 1).split('/');
  if (extra !== undefined) throw new Error(`--history "${spec}": expected <count>[/<seconds>] after "="`);
  const count = wholeNumber(countText, 'the count', MAX_HISTORY_COUNT, spec);
  const seconds = secondsText === undefined ? 0 : wholeNumber(secondsText, 'the seconds', MAX_HISTORY_SECONDS, spec);
  if (count === 0 && seconds === 0) throw new Error(`--history "${spec}": give a count, seconds or both (0/0 keeps nothing)`);
  let pattern: Pattern;
  try {
    pattern = parseChannelPattern(spec.slice(0, eq));
  } catch (err) {
    if (err instanceof PatternError) throw new Error(`--history "${spec}": ${err.message}`);
    throw err;
  }
  if (pattern.templated) throw new Error(`--history "${spec}": placeholders ({cid}, {did}, a bare "@topic") name a reader, not a channel`);
  return { pattern, limits: { count, maxAgeMs: seconds * 1000 } };
}

export class HistoryPolicy {
  private readonly decisions = new Map<string, HistoryLimits | null>();

  constructor(readonly rules: readonly HistoryRule[]) {}

  static parse(specs: readonly string[]): HistoryPolicy {
    return new HistoryPolicy(specs.map(parseHistoryRule));
  }

  get enabled(): boolean {
    return this.rules.length > 0;
  }

  /** The limits of channel `key` (a router channel key), null when it keeps no history. */
  limitsFor(key: string): HistoryLimits | null {
    if (this.rules.length === 0) return null;
    const known = this.decisions.get(key);
    if (known !== undefined) return known;
    const object = objectOfKey(key);
    const rule = object ? this.rules.find((r) => patternMatches(r.pattern, object, NO_BINDING, false)) : undefined;
    const limits = rule?.limits ?? null;
    if (this.decisions.size >= DECISION_CACHE) this.decisions.clear();
    this.decisions.set(key, limits);
    return limits;
  }
}
