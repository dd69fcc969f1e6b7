// Who a rule applies to (README, Access control, "Subjects"): anonymous connections, logged-in devices, one device id or
// CID, a level range, a certificate identity, an address range — or several of these at once, joined by `&`.
import { isIP } from 'node:net';
import { ipv6Hex, isIPv6Address, normalizeIp } from '../guard/address.js';
import { QUOTA_TABLE } from '../protocol/codes.js';

/** What a connection is, as far as the rules care. Set at admission and again when a login changes it. */
export interface SubjectFacts {
  /** Logged in, whichever way (Boho, bearer key, certificate, JWT, hook). */
  readonly authenticated: boolean;
  /** The device id of a login; '' when anonymous. */
  readonly did: string;
  /** The connection's CID ('' before it has one). */
  readonly cid: string;
  readonly level: number;
  /** The client address as iosig shows it (normalised; behind a trusted proxy, the forwarded one). */
  readonly address: string;
  /** The device id a verified client certificate names (identity.ts), whether or not it logged in; else null. */
  readonly certificate: string | null;
  /** The dashboard's send form (a request carrying the admin token), not a connection. */
  readonly dashboard?: boolean;
}

/** A subject that cannot be read (the message says why). */
export class SubjectError extends Error {}

type Term =
  | { t: 'any' }
  | { t: 'anonymous' }
  | { t: 'members' }
  | { t: 'dashboard' }
  | { t: 'device'; id: string }
  | { t: 'cid'; cid: string }
  | { t: 'level'; min: number; max: number }
  | { t: 'cert'; id: string | null }
  | { t: 'address'; range: AddressRange; text: string };

/** A parsed subject: every term must hold. */
export interface SubjectExpr {
  /** The canonical text (terms as written, `&`-joined): equal texts are one subject. */
  readonly text: string;
  readonly terms: readonly Term[];
}

/** `\x` → `x` (subject values may hold spaces or `&` when escaped). */
function unescapeValue(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === '\\') {
      if (i + 1 >= raw.length) throw new SubjectError('a backslash at the end escapes nothing');
      i++;
    }
    out += raw[i];
  }
  return out;
}

/** Splits on `&` that is not escaped. */
function splitTerms(raw: string): string[] {
  const parts: string[] = [''];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '\\' && i + 1 < raw.length) {
      parts[parts.length - 1] += c + raw[++i];
    } else if (c === '&') parts.push('');
    else parts[parts.length - 1] += c;
  }
  return parts;
}

const LEVEL_RANGE = /^(\d{1,3})(?:-(\d{1,3}))?$/;

function parseLevelRange(value: string): Term {
  const match = LEVEL_RANGE.exec(value);
  if (!match) throw new SubjectError(`level:${value}: expected a level (level:3) or a range (level:1-12)`);
  const min = Number(match[1]);
  const max = match[2] === undefined ? min : Number(match[2]);
  if (min > max) throw new SubjectError(`level:${value}: the range is empty`);
  if (max > 255) throw new SubjectError(`level:${value}: levels end at 255`);
  if (match[2] === undefined && !Object.hasOwn(QUOTA_TABLE, min)) {
    const known = Object.keys(QUOTA_TABLE).join(', ');
    throw new SubjectError(`level:${value}: not a level of the quota table (${known}); a range may span gaps`);
  }
  return { t: 'level', min, max };
}

/** An address as a number: IPv4 as 32 bits, IPv6 as 128. */
export type ClientAddress = { family: 4; n: bigint } | { family: 6; n: bigint };

/** An IPv4 or IPv6 address range of an `address:` subject. */
export interface AddressRange {
  readonly family: 4 | 6;
  readonly bits: number;
  /** The range's first address, as a number with the host bits cleared. */
  readonly base: bigint;
}

function v4Number(ip: string): bigint {
  let n = 0n;
  for (const part of ip.split('.')) n = (n << 8n) | BigInt(Number(part) & 255);
  return n;
}

/** The client address as a number, once per subject (a zone is ignored); null when it is not an address. */
export function parseClientAddress(address: string): ClientAddress | null {
  const zone = address.indexOf('%');
  const bare = zone >= 0 ? address.slice(0, zone) : address;
  const family = isIP(bare);
  if (family === 4) return { family: 4, n: v4Number(bare) };
  if (family === 6) return { family: 6, n: BigInt(`0x${ipv6Hex(bare)}`) };
  return null;
}

function inRange(range: AddressRange, address: ClientAddress | null): boolean {
  if (address === null || address.family !== range.family) return false;
  const width = range.family === 4 ? 32n : 128n;
  const shift = width - BigInt(range.bits);
  return address.n >> shift === range.base >> shift;
}

/**
 * An address range: `10.0.0.0/8`, `2001:db8::/32`, or one address. An IPv4-mapped IPv6 range (`::ffff:10.0.0.0/104`)
 * is read as the IPv4 range it maps, since iosig shows such clients by their IPv4 address.
 */
export function parseAddressRange(value: string): AddressRange {
  const slash = value.lastIndexOf('/');
  const host = slash < 0 ? value : value.slice(0, slash);
  const family = isIP(host);
  if (family === 0) throw new SubjectError(`address:${value}: "${host}" is not an IPv4 or IPv6 address`);
  let bits = family === 4 ? 32 : 128;
  if (slash >= 0) {
    const text = value.slice(slash + 1);
    if (!/^\d{1,3}$/.test(text) || Number(text) > bits) throw new SubjectError(`address:${value}: the prefix length must be 0 to ${bits}`);
    bits = Number(text);
  }
  const normal = normalizeIp(host);
  if (family === 6 && !isIPv6Address(normal)) {
    // An IPv4-mapped address: normalizeIp gave its IPv4 form.
    if (bits < 96) throw new SubjectError(`address:${value}: an IPv4-mapped range needs a prefix of at least 96`);
    return { family: 4, bits: bits - 96, base: v4Number(normal) };
  }
  const parsed = parseClientAddress(host)!;
  return { family: parsed.family, bits, base: parsed.n };
}

function parseTerm(raw: string): Term {
  const colon = raw.indexOf(':');
  const name = colon < 0 ? raw : raw.slice(0, colon);
  const value = colon < 0 ? null : unescapeValue(raw.slice(colon + 1));
  const needs = (what: string): string => {
    if (value === null || value === '') throw new SubjectError(`${name}: needs ${what} after "${name}:"`);
    return value;
  };
  switch (name) {
    case 'any':
    case 'anonymous':
    case 'members':
    case 'dashboard':
      if (value !== null) throw new SubjectError(`${name} takes no value`);
      return { t: name };
    case 'device':
      return { t: 'device', id: needs('a device id') };
    case 'cid':
      return { t: 'cid', cid: needs('a CID') };
    case 'level':
      return parseLevelRange(needs('a level or a range'));
    case 'cert': {
      const id = needs('the device id the certificate names, or *');
      return { t: 'cert', id: raw.slice(colon + 1) === '*' ? null : id };
    }
    case 'address':
      return { t: 'address', range: parseAddressRange(needs('an address or a range')), text: value! };
    default:
      throw new SubjectError(
        `unknown subject "${raw}" (any, anonymous, members, dashboard, device:<id>, cid:<cid>, level:<n>[-<m>], cert:<id>|*, address:<range>, joined by &)`,
      );
  }
}

/** A subject as a rule writes it (`members&level:1-2`); throws a SubjectError saying what is wrong. */
export function parseSubject(raw: string): SubjectExpr {
  const parts = splitTerms(raw);
  if (parts.some((p) => p === '')) throw new SubjectError(`"${raw}": an empty term (around "&")`);
  return { text: raw, terms: parts.map(parseTerm) };
}

function termHolds(term: Term, facts: SubjectFacts, address: ClientAddress | null): boolean {
  switch (term.t) {
    case 'any':
      return true;
    case 'anonymous':
      return !facts.authenticated;
    case 'members':
      return facts.authenticated;
    case 'dashboard':
      return facts.dashboard === true;
    case 'device':
      return facts.authenticated && facts.did === term.id;
    case 'cid':
      return facts.cid === term.cid;
    case 'level':
      return facts.level >= term.min && facts.level <= term.max;
    case 'cert':
      return facts.certificate !== null && (term.id === null || facts.certificate === term.id);
    case 'address':
      return inRange(term.range, address);
  }
}

/** Whether every term holds; `address` is parseClientAddress(facts.address), parsed once for all subjects. */
export function subjectHolds(expr: SubjectExpr, facts: SubjectFacts, address: ClientAddress | null = parseClientAddress(facts.address)): boolean {
  for (const term of expr.terms) if (!termHolds(term, facts, address)) return false;
  return true;
}
