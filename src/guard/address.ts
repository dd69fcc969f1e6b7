// Client addresses and home-channel prefixes (docs/protocol.md §5.7, Q28).
import { isIP, isIPv4, isIPv6 } from 'node:net';

/** Node's isIPv6, skipped for text without a colon: every IPv4 peer would otherwise run its long pattern. */
export function isIPv6Address(ip: string): boolean {
  return ip.includes(':') && isIPv6(ip);
}

/**
 * Text form the protocol uses: IPv4-mapped IPv6 (`::ffff:a.b.c.d`, also uWS's fully expanded
 * `0000:…:ffff:7f00:0001`) back to IPv4, `::1` → `127.0.0.1`, other IPv6 in its short canonical form,
 * missing → `0.0.0.0`. A dual-stack listener thus shows IPv4 peers exactly as an IPv4 one did.
 */
export function normalizeIp(raw: string | undefined | null): string {
  if (!raw) return '0.0.0.0';
  let ip = raw.trim();
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip === '') return '0.0.0.0';
  if (!isIPv6Address(ip)) return ip;
  const groups = ipv6Groups(ip);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  }
  if (groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1) return '127.0.0.1';
  return compressIpv6(groups, zoneOf(ip));
}

function zoneOf(ip: string): string {
  const zone = ip.indexOf('%');
  return zone >= 0 ? ip.slice(zone) : '';
}

/** The eight 16-bit groups of a valid IPv6 address (an embedded dotted quad counts as two). */
function ipv6Groups(ip: string): number[] {
  const zone = ip.indexOf('%');
  let addr = zone >= 0 ? ip.slice(0, zone) : ip;
  const lastColon = addr.lastIndexOf(':');
  const tailV4 = addr.slice(lastColon + 1);
  if (isIPv4(tailV4)) {
    const [a, b, c, d] = tailV4.split('.').map(Number) as [number, number, number, number];
    addr = `${addr.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail = ''] = addr.split('::');
  const headParts = head ? head.split(':') : [];
  const tailParts = addr.includes('::') ? (tail ? tail.split(':') : []) : [];
  const missing = Math.max(0, 8 - headParts.length - tailParts.length);
  return [...headParts, ...Array<string>(missing).fill('0'), ...tailParts].map((g) => Number.parseInt(g, 16) || 0);
}

/** RFC 5952 text: lower-case, no leading zeros, the longest run (≥ 2) of zero groups as `::`. */
function compressIpv6(groups: number[], zone: string): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':') + zone;
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}${zone}`;
}

/** Most X-Forwarded-For hops looked at: a longer chain is not walked further (its leftmost hops are the client's). */
const MAX_FORWARDED_HOPS = 32;

/**
 * The client's address (issue 9 item 8, replacing Q28's "first entry"): a peer that is not a trusted proxy is
 * the client. Otherwise X-Forwarded-For is walked from the right, since each proxy appends the address it saw
 * and only the entries added by our own proxies can be believed; the first untrusted address is the client.
 * An entry that is not an address ends the walk at the last trusted hop.
 */
export function clientAddress(peerIp: string, forwardedFor: string | undefined, trust: ProxyTrust): string {
  let ip = normalizeIp(peerIp);
  if (!forwardedFor || !trust.trusts(ip)) return ip;
  let end = forwardedFor.length;
  for (let hops = 0; hops < MAX_FORWARDED_HOPS && end > 0; hops++) {
    const comma = forwardedFor.lastIndexOf(',', end - 1);
    const hop = forwardedFor.slice(comma + 1, end).trim();
    end = Math.max(comma, 0);
    if (hop === '') continue;
    const bare = hop.startsWith('[') && hop.endsWith(']') ? hop.slice(1, -1) : hop;
    if (isIP(bare) === 0) return ip;
    ip = normalizeIp(bare);
    if (!trust.trusts(ip)) return ip;
  }
  return ip;
}

/** 127.0.0.0/8 (normalizeIp has turned `::1` and IPv4-mapped loopback into this form): traffic that never left the host. */
export function isLoopbackAddress(ip: string): boolean {
  return ip.startsWith('127.');
}

const PRIVATE_V4_PREFIXES = ['0.0.0.0', '127.0.0.1', '192.168.', '10.'];

function isPrivateV4(ip: string): boolean {
  for (const p of PRIVATE_V4_PREFIXES) if (ip.startsWith(p)) return true;
  if (ip.startsWith('172.')) {
    const second = Number.parseInt(ip.slice(4), 10);
    return second >= 16 && second <= 31;
  }
  return false;
}

/** Unique-local (fc00::/7) and link-local (fe80::/10) IPv6 addresses share the private home. */
function isPrivateV6(ip: string): boolean {
  const first = Number.parseInt(ip.split(':')[0] || '0', 16);
  return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80;
}

/** Expands an IPv6 address to 32 lower-case hex digits, so each address gets its own key. */
export function ipv6Hex(ip: string): string {
  return ipv6Groups(ip)
    .map((g) => g.toString(16).padStart(4, '0'))
    .join('');
}

/**
 * Home-channel prefix for a client address: `PRIVATE:` for private and loopback IPv4 (matched by
 * prefix exactly like the reference), otherwise `IP:` + hex. IPv4 keys are byte-compatible with the
 * reference; IPv6 gets one key per address instead of the reference's shared `IP:00`.
 */
export function homePrefix(ip: string): string {
  if (isIPv6Address(ip)) return isPrivateV6(ip) ? 'PRIVATE:' : `IP:${ipv6Hex(ip)}`;
  if (isPrivateV4(ip)) return 'PRIVATE:';
  let hex = '';
  for (const part of ip.split('.')) {
    const n = Number.parseInt(part, 10);
    hex += ((Number.isNaN(n) ? 0 : n) & 0xff).toString(16).padStart(2, '0');
  }
  return `IP:${hex}`;
}

/** Decides which peer addresses may speak for the client through X-Forwarded-* headers. */
export class ProxyTrust {
  private readonly trusted: Set<string>;
  constructor(addresses: readonly string[]) {
    this.trusted = new Set(addresses.map(normalizeIp));
  }
  trusts(peerIp: string): boolean {
    return this.trusted.has(peerIp);
  }

  /** Some proxy is trusted: X-Forwarded-* headers are worth reading. */
  get any(): boolean {
    return this.trusted.size > 0;
  }
}
