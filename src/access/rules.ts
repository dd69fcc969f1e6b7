// The ACL text format (README, Access control): one rule a line, read whole or refused whole.
//
//   # a comment (a line whose first non-blank character is #)
//   allow <subject> <rights> <pattern> [<pattern> …]
//   deny  <subject> <rights> <pattern> [<pattern> …]
//   rate  <subject> <message and/or byte rate>
//
// Tokens are separated by blanks; a backslash escapes the next character (a blank, `&`, `+`, `#`, `@`, `{`, `*`).
import { parseChannelPattern, parseServicePattern, PatternError, type Pattern } from './pattern.js';
import { parseRights, RIGHT_INDEX, RightsError, rightsForPattern, type Right } from './rights.js';
import { parseSubject, SubjectError, type SubjectExpr } from './subject.js';
import { RuleIndex } from './rule-index.js';
import { parseTrafficRates, RateError, type TrafficRates } from '../guard/rate-spec.js';

/** Whether a rule grants or denies. */
export type Effect = 'allow' | 'deny';

/** One rule: an effect, a subject, rights and one pattern. */
export interface Rule {
  /** 1-based line of the source (0 for rules that come with a session: a token's or a hook's rights). */
  readonly line: number;
  readonly effect: Effect;
  /** Index into RuleSet.subjects. */
  readonly subject: number;
  /** Bit per RIGHT_INDEX. */
  readonly rights: number;
  readonly pattern: Pattern;
}

/** One `rate` line: a subject and its rates. */
export interface RateRule {
  readonly line: number;
  readonly subject: number;
  readonly rates: TrafficRates;
}

/** Bounds of an ACL source; beyond them it is refused whole. */
export const ACL_LIMITS = {
  /** Bytes of one source (file or Redis value). */
  maxBytes: 16 * 1024 * 1024,
  maxLineBytes: 8192,
  /** Rules after expanding the patterns of each line. */
  maxRules: 100_000,
  maxPatternsPerLine: 256,
  /** Errors listed in one refusal (the count of the rest is given). */
  maxErrorsReported: 20,
} as const;

/** A line at fault and why. */
export interface LineError {
  readonly line: number;
  readonly reason: string;
}

/** An ACL that cannot be used; `message` lists the lines at fault. Nothing of it is applied. */
export class AclError extends Error {
  constructor(
    readonly source: string,
    readonly errors: readonly LineError[],
    more = 0,
  ) {
    const lines = errors.map((e) => (e.line > 0 ? `line ${e.line}: ${e.reason}` : e.reason));
    if (more > 0) lines.push(`… and ${more} more`);
    super(`${source}: ${lines.join('; ')}`);
    this.name = 'AclError';
  }
}

/** A whole rule set: its rules, subjects, rate lines and indexes. */
export class RuleSet {
  /** Per right (RIGHT_INDEX), the rules without placeholders that grant or deny it (shared by every subject). */
  readonly index: readonly RuleIndex<Rule>[];
  /** Per right, the rules with placeholders ({cid}, {did}): their outcome depends on the subject itself. */
  readonly templated: readonly (readonly Rule[])[];

  constructor(
    /** Where the rules came from (a path, `redis <key>`), for messages. */
    readonly source: string,
    readonly rules: readonly Rule[],
    readonly subjects: readonly SubjectExpr[],
    readonly rates: readonly RateRule[],
  ) {
    const index = Object.keys(RIGHT_INDEX).map(() => new RuleIndex<Rule>());
    const templated = index.map((): Rule[] => []);
    for (const rule of rules) {
      for (let r = 0; r < index.length; r++) {
        if (!(rule.rights & (1 << r))) continue;
        if (rule.pattern.templated) templated[r]!.push(rule);
        else index[r]!.add(rule);
      }
    }
    this.index = index;
    this.templated = templated;
  }

  get allowCount(): number {
    return this.rules.filter((r) => r.effect === 'allow').length;
  }
}

/** The bit mask of some rights (bit per RIGHT_INDEX). */
export const rightsMask = (rights: readonly Right[]): number => rights.reduce((mask, r) => mask | (1 << RIGHT_INDEX[r]), 0);

/** Splits a line on blanks that are not escaped; backslashes stay in the tokens for the parsers that read them. */
export function tokenize(line: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let open = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) {
      current += c + line[++i];
      open = true;
    } else if (c === ' ' || c === '\t') {
      if (open) tokens.push(current);
      current = '';
      open = false;
    } else {
      current += c;
      open = true;
    }
  }
  if (open) tokens.push(current);
  return tokens;
}

/** Control characters other than tab have no place in a rule; they would only hide what a line says. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

class Builder {
  readonly rules: Rule[] = [];
  readonly rates: RateRule[] = [];
  readonly subjects: SubjectExpr[] = [];
  private readonly subjectIds = new Map<string, number>();

  subject(raw: string): number {
    const known = this.subjectIds.get(raw);
    if (known !== undefined) return known;
    const id = this.subjects.push(parseSubject(raw)) - 1;
    this.subjectIds.set(raw, id);
    return id;
  }

  line(text: string, line: number): void {
    const tokens = tokenize(text);
    const [word, subject, third, ...rest] = tokens;
    if (word === 'rate') {
      if (subject === undefined || third === undefined || rest.length > 0) throw new RateError('expected: rate <subject> <rates>, e.g. rate level:3 100msg/s:200,64KiB/s');
      this.rates.push({ line, subject: this.subject(subject), rates: parseTrafficRates(third) });
      return;
    }
    if (word !== 'allow' && word !== 'deny') throw new SubjectError(`a rule starts with allow, deny or rate, not "${word}"`);
    if (subject === undefined || third === undefined || rest.length === 0) throw new SubjectError(`expected: ${word} <subject> <rights> <pattern> [<pattern> …]`);
    if (rest.length > ACL_LIMITS.maxPatternsPerLine) throw new SubjectError(`more than ${ACL_LIMITS.maxPatternsPerLine} patterns on one line`);
    const subjectId = this.subject(subject);
    const { rights, all } = parseRights(third);
    const calls = rights.includes('call');
    for (const raw of rest) {
      let matched: Right[];
      let pattern: Pattern;
      if (calls && !all && raw !== '*') {
        if (rights.length > 1) throw new RightsError('call names services: write it on a line of its own (or use the pattern *)');
        pattern = parseServicePattern(raw);
        matched = ['call'];
      } else {
        pattern = parseChannelPattern(raw);
        matched = rightsForPattern(rights, all, pattern);
        // `all` with a channel pattern also means every service of the same name: no, calls only meet `*`.
      }
      if (matched.length === 0) continue;
      this.rules.push({ line, effect: word, subject: subjectId, rights: rightsMask(matched), pattern });
      if (this.rules.length > ACL_LIMITS.maxRules) throw new SubjectError(`more than ${ACL_LIMITS.maxRules} rules`);
    }
  }
}

const isLineError = (err: unknown): err is Error =>
  err instanceof PatternError || err instanceof SubjectError || err instanceof RightsError || err instanceof RateError;

/** Reads an ACL text; throws an AclError naming every line at fault (up to maxErrorsReported) and applies nothing. */
export function parseAcl(text: string, source: string): RuleSet {
  if (Buffer.byteLength(text) > ACL_LIMITS.maxBytes) throw new AclError(source, [{ line: 0, reason: `over ${ACL_LIMITS.maxBytes} bytes` }]);
  const builder = new Builder();
  const errors: LineError[] = [];
  let more = 0;
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    let reason: string | null = null;
    if (Buffer.byteLength(line) > ACL_LIMITS.maxLineBytes) reason = `over ${ACL_LIMITS.maxLineBytes} bytes`;
    else if (CONTROL.test(line)) reason = 'a control character';
    else {
      try {
        builder.line(trimmed, i + 1);
      } catch (err) {
        if (!isLineError(err)) throw err;
        reason = err.message;
      }
    }
    if (reason === null) continue;
    if (errors.length < ACL_LIMITS.maxErrorsReported) errors.push({ line: i + 1, reason });
    else more++;
    if (builder.rules.length > ACL_LIMITS.maxRules) break;
  }
  if (errors.length > 0) throw new AclError(source, errors, more);
  return new RuleSet(source, builder.rules, builder.subjects, builder.rates);
}
