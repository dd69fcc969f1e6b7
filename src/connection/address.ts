// Client addresses and home-channel prefixes (PROTOCOL.md §5.7, Q28).
import { isIPv4, isIPv6 } from 'node:net';

/** Text form the protocol uses: `::ffff:` stripped, `::1` → `127.0.0.1`, missing → `0.0.0.0`. */
export function normalizeIp(raw: string | undefined | null): string {
  if (!raw) return '0.0.0.0';
  let ip = raw.trim();
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip.toLowerCase().startsWith('::ffff:') && isIPv4(ip.slice(7))) ip = ip.slice(7);
  if (ip === '::1' || ip === '0:0:0:0:0:0:0:1') return '127.0.0.1';
  return ip === '' ? '0.0.0.0' : ip;
}

/** The first entry of an X-Forwarded-For list, trimmed (the reference used the whole value, Q28). */
export function firstForwardedFor(header: string): string {
  const comma = header.indexOf(',');
  return (comma < 0 ? header : header.slice(0, comma)).trim();
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
function ipv6Hex(ip: string): string {
  const zone = ip.indexOf('%');
  const addr = zone >= 0 ? ip.slice(0, zone) : ip;
  const [head = '', tail = ''] = addr.split('::');
  const headParts = head ? head.split(':') : [];
  const tailParts = addr.includes('::') ? (tail ? tail.split(':') : []) : [];
  const missing = 8 - headParts.length - tailParts.length;
  const groups = [...headParts, ...Array<string>(Math.max(0, missing)).fill('0'), ...tailParts];
  return groups.map((g) => g.padStart(4, '0').toLowerCase()).join('');
}

/**
 * Home-channel prefix for a client address: `PRIVATE:` for private and loopback IPv4 (matched by
 * prefix exactly like the reference), otherwise `IP:` + hex. IPv4 keys are byte-compatible with the
 * reference; IPv6 gets one key per address instead of the reference's shared `IP:00`.
 */
export function homePrefix(ip: string): string {
  if (isIPv6(ip)) return isPrivateV6(ip) ? 'PRIVATE:' : `IP:${ipv6Hex(ip)}`;
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
}
