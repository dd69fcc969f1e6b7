// Who may see what. Counters are public; lists, the live message tail and sending need the admin token.
// Without a token configured, loopback clients may read (never send) and everyone else sees counters only.
import { BlockList } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import type uWS from 'uWebSockets.js';
import { PEER_HEADER, peerFromFront } from '../transport/tls-front.js';
import type { AccessLevel } from './dashboard-types.js';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

export function isLoopback(ip: string): boolean {
  const family = ip.includes(':') ? 'ipv6' : 'ipv4';
  try {
    return LOOPBACK.check(ip, family);
  } catch {
    return false;
  }
}

export interface AccessPolicy {
  adminToken: string | null;
  /** Mutual TLS: requests arrive from the local TLS front, which names the real peer in PEER_HEADER. */
  fronted: boolean;
}

/** Compares digests so that the time taken tells nothing about the token. */
function tokenMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function bearerToken(req: uWS.HttpRequest): string | null {
  const header = req.getHeader('authorization');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

/** The client's address as far as we can trust it; null when it cannot be established. */
function clientAddress(req: uWS.HttpRequest, res: uWS.HttpResponse, policy: AccessPolicy): string | null {
  // A relayed request may come from anywhere, whatever the relay's own address.
  if (req.getHeader('x-forwarded-for') !== '' || req.getHeader('forwarded') !== '') return null;
  if (policy.fronted) return peerFromFront(req.getHeader(PEER_HEADER))?.ip ?? null;
  return Buffer.from(res.getRemoteAddressAsText()).toString();
}

/** Must be called inside the request handler, before any await (uWS requests live on the stack). */
export function accessOf(req: uWS.HttpRequest, res: uWS.HttpResponse, policy: AccessPolicy): AccessLevel {
  if (policy.adminToken !== null) {
    const given = bearerToken(req);
    return given !== null && tokenMatches(given, policy.adminToken) ? 'admin' : 'counters';
  }
  const ip = clientAddress(req, res, policy);
  return ip !== null && isLoopback(ip) ? 'read' : 'counters';
}

export function canRead(level: AccessLevel): boolean {
  return level === 'read' || level === 'admin';
}
