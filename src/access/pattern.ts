// Channel patterns of the access rules (README, Access control, "Patterns"): what a rule names, what a request touches
// (an "object"), and how the two meet. Pure functions; no I/O.
//
// Every object a right applies to is a kind and a list of levels:
//   channel  `news/a`            CH:news/a            → ['news', 'a']
//   home     `#lab/x`            <home>#lab/x         → ['lab', 'x']          (a device only reaches its own home)
//   cid      `D1@temp/x`         CID:D1@temp/x        → ['D1', 'temp', 'x']   (subscribe, unicast, CID publish)
//   service  `reply` / `echo`    RPC:reply␀echo       → ['reply', 'echo']     (call)
// A pattern has the same shape with `+` (one level), `#` (the rest, zero levels included) and placeholders
// `{cid}` / `{did}` (the device's own CID and device id), which are compared as literal text once bound, so an id
// holding `+`, `#` or `/` can never widen what a rule grants.
import { CHANNEL_PREFIX, CID_PREFIX } from '../router/tags.js';

/** What an object of a rule is: a channel, a home channel, a CID-addressed signal or a service. */
export type ObjectKind = 'channel' | 'home' | 'cid' | 'service';

/** A request's target: what rules are matched against. */
export interface AccessObject {
  readonly kind: ObjectKind;
  readonly levels: readonly string[];
}

/** A placeholder of a pattern: the subject's own CID or device id. */
export type Placeholder = 'cid' | 'did';
/** Every placeholder a pattern may hold. */
export const PLACEHOLDERS: readonly Placeholder[] = ['cid', 'did'];

/** One level of a pattern. */
export type Level =
  | { readonly t: 'lit'; readonly text: string }
  | { readonly t: 'one' }
  | { readonly t: 'rest' }
  | { readonly t: 'template'; readonly parts: readonly (string | { readonly ph: Placeholder })[] };

/** A level of a subscription filter (no placeholders). */
export type FilterLevel = Exclude<Level, { t: 'template' }>;

/** A parsed pattern. */
export interface Pattern {
  /** As written in the rule (for messages). */
  readonly source: string;
  /** 'any' is the pattern `*`: every object of every kind. */
  readonly kind: ObjectKind | 'any';
  readonly levels: readonly Level[];
  /** True when a level holds a placeholder: the pattern's meaning depends on the subject. */
  readonly templated: boolean;
}

/** A subscription filter in object terms (an MQTT filter, or an exact iosignal tag). */
export interface AccessFilter {
  readonly kind: ObjectKind;
  readonly levels: readonly FilterLevel[];
}

/** The values placeholders take for one subject. */
export interface Binding {
  readonly cid: string;
  readonly did: string;
}

/** A pattern that cannot be read (the message says why). */
export class PatternError extends Error {}

/** Bounds of one pattern (a longer one is refused with the rule). */
export const MAX_PATTERN_BYTES = 1024;
/** Most levels of one pattern. */
export const MAX_PATTERN_LEVELS = 64;

const ONE: FilterLevel = Object.freeze({ t: 'one' });
const REST: FilterLevel = Object.freeze({ t: 'rest' });

// ---- keys → objects ------------------------------------------------------------------------------------------

/** The prefix of call keys. */
export const SERVICE_PREFIX = 'RPC:';
const SERVICE_SEPARATOR = '\u0000';
const HOME_PREFIXES = ['PRIVATE:', 'IP:'] as const;

/** The key of a CALL, for the decision cache: `RPC:<service>␀<command>`. */
export function callKey(service: string, command: string): string {
  return SERVICE_PREFIX + service + SERVICE_SEPARATOR + command;
}

/** The key of a unicast to `cid` on `topic`, or of a CID publish (`cid` = the publisher's own): `CID:cid@topic`. */
export function sendKey(cid: string, topic: string): string {
  return `${CID_PREFIX}${cid}@${topic}`;
}

/**
 * The object of a router channel key (`CH:…`, `CID:…`, `PRIVATE:#…`, `IP:<hex>#…`) or of a call key; null for a
 * key of no known form (refused when rules are in force).
 */
export function objectOfKey(key: string): AccessObject | null {
  if (key.startsWith(CHANNEL_PREFIX)) return { kind: 'channel', levels: key.slice(CHANNEL_PREFIX.length).split('/') };
  if (key.startsWith(CID_PREFIX)) {
    const tag = key.slice(CID_PREFIX.length);
    const at = tag.indexOf('@');
    if (at < 0) return null;
    return { kind: 'cid', levels: [tag.slice(0, at), ...tag.slice(at + 1).split('/')] };
  }
  if (key.startsWith(SERVICE_PREFIX)) {
    const rest = key.slice(SERVICE_PREFIX.length);
    const sep = rest.indexOf(SERVICE_SEPARATOR);
    return sep < 0 ? { kind: 'service', levels: [rest, ''] } : { kind: 'service', levels: [rest.slice(0, sep), rest.slice(sep + 1)] };
  }
  for (const prefix of HOME_PREFIXES) {
    if (!key.startsWith(prefix)) continue;
    const hash = key.indexOf('#', prefix.length);
    if (hash < 0) return null;
    return { kind: 'home', levels: key.slice(hash + 1).split('/') };
  }
  return null;
}

// ---- parsing ---------------------------------------------------------------------------------------------------

/** One character of a pattern with whether it was escaped by a backslash. */
interface Char {
  c: string;
  esc: boolean;
}

function unescapeChars(raw: string): Char[] {
  const out: Char[] = [];
  for (let i = 0; i < raw.length; i++) {
    // Code points, not UTF-16 units: a level compares as text either way, but a surrogate pair stays whole.
    const cp = raw.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    if (cp > 0xffff) i++;
    if (ch === '\\') {
      if (i + 1 >= raw.length) throw new PatternError('a backslash at the end escapes nothing');
      const next = String.fromCodePoint(raw.codePointAt(i + 1)!);
      i += next.length;
      out.push({ c: next, esc: true });
    } else {
      out.push({ c: ch, esc: false });
    }
  }
  return out;
}

const isBare = (chars: Char[], c: string): boolean => chars.length === 1 && !chars[0]!.esc && chars[0]!.c === c;

function splitOn(chars: Char[], sep: string): Char[][] {
  const parts: Char[][] = [[]];
  for (const ch of chars) {
    if (!ch.esc && ch.c === sep) parts.push([]);
    else parts[parts.length - 1]!.push(ch);
  }
  return parts;
}

/** One level: `+`, `#`, a literal, or literal text with placeholders. */
function parseLevel(chars: Char[], last: boolean): Level {
  if (isBare(chars, '+')) return ONE;
  if (isBare(chars, '#')) {
    if (!last) throw new PatternError('"#" must be the last level');
    return REST;
  }
  const parts: (string | { ph: Placeholder })[] = [];
  let text = '';
  for (let i = 0; i < chars.length; i++) {
    const { c, esc } = chars[i]!;
    if (esc) {
      text += c;
      continue;
    }
    if (c === '+' || c === '#') throw new PatternError(`"${c}" must be a whole level (write \\${c} for the character itself)`);
    if (c === '*') throw new PatternError('"*" is only a pattern on its own (write \\* for the character itself)');
    if (c === '}') throw new PatternError('"}" without "{" (write \\} for the character itself)');
    if (c !== '{') {
      text += c;
      continue;
    }
    let end = i + 1;
    let name = '';
    while (end < chars.length && !(chars[end]!.c === '}' && !chars[end]!.esc)) name += chars[end++]!.c;
    if (end >= chars.length) throw new PatternError('"{" without "}" (write \\{ for the character itself)');
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
      throw new PatternError(`unknown placeholder {${name}} (known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})`);
    }
    if (text) parts.push(text);
    text = '';
    parts.push({ ph: name as Placeholder });
    i = end;
  }
  if (parts.length === 0) return { t: 'lit', text };
  if (text) parts.push(text);
  return { t: 'template', parts };
}

function parseLevels(chars: Char[]): Level[] {
  const raw = splitOn(chars, '/');
  if (raw.length > MAX_PATTERN_LEVELS) throw new PatternError(`more than ${MAX_PATTERN_LEVELS} levels`);
  return raw.map((level, i) => parseLevel(level, i === raw.length - 1));
}

const isTemplated = (levels: readonly Level[]): boolean => levels.some((l) => l.t === 'template');

/**
 * A channel pattern as a rule writes it: `*`; `#<levels>` a home channel; `<cid>@<levels>` a CID-addressed signal
 * (`@<levels>` is short for `{cid}@<levels>`, the device's own); anything else an ordinary channel. Backslash
 * escapes the next character. Throws a PatternError saying what is wrong.
 */
export function parseChannelPattern(raw: string): Pattern {
  checkSize(raw);
  if (raw === '*') return { source: raw, kind: 'any', levels: [], templated: false };
  const chars = unescapeChars(raw);
  if (chars.length === 0) throw new PatternError('an empty pattern');
  // `#` alone is every ordinary channel (MQTT's sense); `#` followed by more is a home channel.
  if (chars.length > 1 && !chars[0]!.esc && chars[0]!.c === '#') {
    const levels = parseLevels(chars.slice(1));
    return { source: raw, kind: 'home', levels, templated: isTemplated(levels) };
  }
  const at = chars.findIndex((ch) => !ch.esc && ch.c === '@');
  if (at < 0) {
    const levels = parseLevels(chars);
    return { source: raw, kind: 'channel', levels, templated: isTemplated(levels) };
  }
  const cidChars = chars.slice(0, at);
  if (cidChars.some((ch) => !ch.esc && ch.c === '/')) throw new PatternError('the CID before "@" is one level: it cannot hold "/"');
  const cidLevel: Level = cidChars.length === 0 ? { t: 'template', parts: [{ ph: 'cid' }] } : parseLevel(cidChars, false);
  const levels = [cidLevel, ...parseLevels(chars.slice(at + 1))];
  if (levels.length > MAX_PATTERN_LEVELS) throw new PatternError(`more than ${MAX_PATTERN_LEVELS} levels`);
  return { source: raw, kind: 'cid', levels, templated: isTemplated(levels) };
}

/**
 * A service pattern of the `call` right: `<service>` (every command of it), `<service>/<command>`, `+`, `#` or `*`.
 */
export function parseServicePattern(raw: string): Pattern {
  checkSize(raw);
  if (raw === '*' || raw === '#') return { source: raw, kind: 'service', levels: [REST], templated: false };
  const levels = parseLevels(unescapeChars(raw));
  if (levels.length > 2) throw new PatternError('a call pattern is <service> or <service>/<command>');
  if (levels.length === 1) levels.push(REST);
  return { source: raw, kind: 'service', levels, templated: isTemplated(levels) };
}

function checkSize(raw: string): void {
  if (Buffer.byteLength(raw) > MAX_PATTERN_BYTES) throw new PatternError(`a pattern over ${MAX_PATTERN_BYTES} bytes`);
}

// ---- matching --------------------------------------------------------------------------------------------------

/** A placeholder value usable in a level: not empty and no `/` (else it could stand for more than one level). */
function boundValue(parts: readonly (string | { readonly ph: Placeholder })[], binding: Binding): string | null {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    const value = binding[part.ph];
    if (value === '' || value.includes('/')) return null;
    out += value;
  }
  return out;
}

const startsWithDollar = (s: string | undefined): boolean => s !== undefined && s.charCodeAt(0) === 0x24;

/**
 * Whether `pattern` names `object` for a subject bound to `binding`. `deny` patterns fail closed: a placeholder
 * whose value is unusable (empty, or holding `/`) matches any one level there, while in an allow pattern it
 * matches nothing. In an allow pattern a wildcard first level does not reach ordinary channels whose name starts
 * with `$` (MQTT's rule: name `$SYS/#` explicitly); a deny pattern's wildcard does.
 */
export function patternMatches(pattern: Pattern, object: AccessObject, binding: Binding, deny: boolean): boolean {
  if (pattern.kind === 'any') return true;
  if (pattern.kind !== object.kind) return false;
  const { levels } = pattern;
  const obj = object.levels;
  if (!deny && object.kind === 'channel' && startsWithDollar(obj[0]) && levels.length > 0 && levels[0]!.t !== 'lit' && levels[0]!.t !== 'template') {
    return false;
  }
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.t === 'rest') return true;
    if (i >= obj.length) return false;
    if (level.t === 'lit') {
      if (level.text !== obj[i]) return false;
    } else if (level.t === 'template') {
      const value = boundValue(level.parts, binding);
      if (value === null) {
        if (!deny) return false;
      } else if (value !== obj[i]) return false;
    }
  }
  return obj.length === levels.length;
}

/** The pattern's levels for one subject: placeholders replaced; null when an allow pattern can match nothing. */
export function bindLevels(pattern: Pattern, binding: Binding, deny: boolean): FilterLevel[] | null {
  const out: FilterLevel[] = [];
  for (const level of pattern.levels) {
    if (level.t !== 'template') {
      out.push(level);
      continue;
    }
    const value = boundValue(level.parts, binding);
    if (value !== null) out.push({ t: 'lit', text: value });
    else if (deny) out.push(ONE);
    else return null;
  }
  return out;
}

/** True when a first level `p` of an allow pattern stops at `$` channels that a filter level `f` names. */
function dollarBlocks(kind: ObjectKind, p: FilterLevel | undefined, f: FilterLevel | undefined, deny: boolean): boolean {
  return !deny && kind === 'channel' && p !== undefined && p.t !== 'lit' && f !== undefined && f.t === 'lit' && startsWithDollar(f.text);
}

/** Every object the filter can match is matched by the (bound) pattern levels. */
export function levelsCover(p: readonly FilterLevel[], f: readonly FilterLevel[], kind: ObjectKind, deny: boolean): boolean {
  if (dollarBlocks(kind, p[0], f[0], deny)) return false;
  for (let i = 0; ; i++) {
    const pl = p[i];
    const fl = f[i];
    if (pl === undefined) return fl === undefined;
    if (pl.t === 'rest') return true;
    if (fl === undefined || fl.t === 'rest') return false;
    if (pl.t === 'lit' && (fl.t !== 'lit' || fl.text !== pl.text)) return false;
  }
}

/** Some object is matched by both the (bound) pattern levels and the filter. */
export function levelsIntersect(p: readonly FilterLevel[], f: readonly FilterLevel[], kind: ObjectKind, deny: boolean): boolean {
  if (dollarBlocks(kind, p[0], f[0], deny)) return false;
  // Nor does a filter's wildcard first level reach them, so a pattern naming `$…` cannot meet it.
  if (dollarBlocks(kind, f[0], p[0], false)) return false;
  for (let i = 0; ; i++) {
    const pl = p[i];
    const fl = f[i];
    if (pl?.t === 'rest' || fl?.t === 'rest') return true;
    if (pl === undefined || fl === undefined) return pl === fl;
    if (pl.t === 'lit' && fl.t === 'lit' && pl.text !== fl.text) return false;
  }
}

// ---- filters ---------------------------------------------------------------------------------------------------

/** MQTT-style filter text (levels split on `/`, `+` and `#` whole levels) as filter levels; no escapes. */
function filterLevels(text: string): FilterLevel[] {
  return text.split('/').map((level) => (level === '+' ? ONE : level === '#' ? REST : { t: 'lit', text: level }));
}

/** A filter over ordinary channels (an MQTT topic filter as iosig routes it). */
export function channelFilter(filter: string): AccessFilter {
  return { kind: 'channel', levels: filterLevels(filter) };
}

/** A filter over home channels (the topic part, after `#`). */
export function homeFilter(filter: string): AccessFilter {
  return { kind: 'home', levels: filterLevels(filter) };
}

/** A filter over CID-addressed signals: `cid` is a CID or `+`, `topicFilter` the topic part. */
export function cidFilter(cid: string, topicFilter: string): AccessFilter {
  return { kind: 'cid', levels: [cid === '+' ? ONE : { t: 'lit', text: cid }, ...filterLevels(topicFilter)] };
}

/** The exact filter of one object (an iosignal subscription names one channel). */
export function exactFilter(object: AccessObject): AccessFilter {
  return { kind: object.kind, levels: object.levels.map((text) => ({ t: 'lit', text })) };
}
