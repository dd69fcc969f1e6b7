// What a device presents to log in without Boho, read from where it arrives: `Authorization: Bearer …` or
// `?token=` on the WebSocket upgrade, and the MQTT username and password. A JWT (three base64url parts whose
// header is JSON naming an `alg`) is told from iosig's own `<id>.<key>` bearer form, which also has dots.
import { createHash } from 'node:crypto';
import { splitIdKey } from '../crypto/keys.js';

/** Longest token read (a JWT with rights claims fits in a few KiB); anything longer is refused unread. */
export const MAX_TOKEN_BYTES = 8192;

export type Credential =
  | { kind: 'none' }
  | { kind: 'jwt'; token: string }
  | { kind: 'key'; id: string; key: string }
  /** A token that is not a JWT and not `<id>.<key>`: only an auth hook can judge it. */
  | { kind: 'opaque'; token: string }
  /** An MQTT username without a password. */
  | { kind: 'username'; id: string };

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Three base64url segments (the last may be empty: an unsigned token, which the verifier refuses) and a JSON header with `alg`. */
export function looksLikeJwt(token: string): boolean {
  if (token.length > MAX_TOKEN_BYTES) return false;
  const parts = token.split('.');
  if (parts.length !== 3) return false;
  const [header, payload, signature] = parts as [string, string, string];
  if (!BASE64URL.test(header) || !BASE64URL.test(payload) || (signature !== '' && !BASE64URL.test(signature))) return false;
  try {
    const decoded: unknown = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    return typeof decoded === 'object' && decoded !== null && typeof (decoded as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

/** A presented token: a JWT, iosig's `<id>.<key>`, or opaque. */
export function classifyToken(token: string): Credential {
  if (token === '') return { kind: 'none' };
  if (looksLikeJwt(token)) return { kind: 'jwt', token };
  const pair = splitIdKey(token);
  if (pair && pair.id !== '' && pair.key !== '') return { kind: 'key', id: pair.id, key: pair.key };
  return { kind: 'opaque', token };
}

/** `Authorization: Bearer <token>` (scheme case-insensitive, one token); none for anything else. */
export function credentialFromAuthorization(header: string | undefined): Credential {
  if (!header || header.length > MAX_TOKEN_BYTES + 16) return { kind: 'none' };
  const match = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return match ? classifyToken(match[1]!) : { kind: 'none' };
}

/**
 * `?token=<token>` of an upgrade URL's query (without the `?`). Refused as malformed (null) when the parameter is
 * given more than once or is over MAX_TOKEN_BYTES: which one would count would be a guess.
 */
export function credentialFromQuery(query: string): Credential | null {
  if (!query.includes('token=')) return { kind: 'none' };
  const params = new URLSearchParams(query);
  const all = params.getAll('token');
  if (all.length === 0) return { kind: 'none' };
  if (all.length > 1 || all[0]!.length > MAX_TOKEN_BYTES) return null;
  return classifyToken(all[0]!);
}

/** The query without its `token` parameter: what may be logged or shown. */
export function queryWithoutToken(query: string): string {
  if (!query.includes('token=')) return query;
  const params = new URLSearchParams(query);
  params.delete('token');
  return params.toString();
}

/**
 * Where both the header and the query carry one, they must agree (a proxy adding a header must not be
 * outvoted by the URL or the other way round); null means refuse.
 */
export function upgradeCredential(authorization: string | undefined, query: string): Credential | null {
  const fromHeader = credentialFromAuthorization(authorization);
  const fromQuery = credentialFromQuery(query);
  if (fromQuery === null) return null;
  if (fromHeader.kind === 'none') return fromQuery;
  if (fromQuery.kind === 'none') return fromHeader;
  return tokenText(fromHeader) === tokenText(fromQuery) ? fromHeader : null;
}

function tokenText(c: Credential): string {
  switch (c.kind) {
    case 'jwt':
    case 'opaque':
      return c.token;
    case 'key':
      return `${c.id}.${c.key}`;
    default:
      return '';
  }
}

/**
 * MQTT CONNECT: a JWT in the password logs in by the token (the username is then only a label); otherwise the
 * username is the device id and the password its key, as for a bearer key. Null (refuse) for a password over
 * MAX_TOKEN_BYTES.
 */
export function credentialFromMqtt(username: string | undefined, password: Buffer | undefined): Credential | null {
  if (password && password.length > MAX_TOKEN_BYTES) return null;
  const text = password ? password.toString('utf8') : '';
  if (text !== '' && looksLikeJwt(text)) return { kind: 'jwt', token: text };
  if (username && text !== '') return { kind: 'key', id: username, key: text };
  if (username) return { kind: 'username', id: username };
  if (text !== '') return { kind: 'opaque', token: text };
  return { kind: 'none' };
}

/** The login throttle's "device" for a token: a digest, so one token's failures are counted together and none is kept. */
export const tokenThrottleId = (token: string): string => `token:${createHash('sha256').update(token).digest('base64url').slice(0, 16)}`;
