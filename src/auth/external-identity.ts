// A device known from outside the key store — a verified JWT or an auth hook's answer — in the shape the login
// flow admits: a DeviceRecord (id, CID, level) plus what a key-store record never has: rights of its own, a
// superuser flag, and the instant the session must end unless a fresh token arrives.
import type { DeviceRecord } from './key-store.js';
import type { Grants } from '../access/grants.js';
import { QUOTA_TABLE, DEFAULT_LEVEL } from '../protocol/codes.js';

/** A device known from a verified JWT or an auth hook answer. */
export interface ExternalIdentity {
  via: 'jwt' | 'hook';
  did: string;
  cid: string;
  level: number;
  /** Rights of this session (null: the ACL alone decides). */
  grants: Grants | null;
  /** Allowed everything (hook only). */
  superuser: boolean;
  /** Milliseconds since the epoch at which the session ends, unless refreshed; null = no end. */
  expiresAt: number | null;
}

/** Claims or an answer that do not make a usable identity. */
export class IdentityError extends Error {}

/** Longest device id and CID accepted from outside (tags are at most 255 bytes, and `cid@topic` must fit). */
export const MAX_EXTERNAL_ID_BYTES = 128;
/** Longest CID accepted from outside. */
export const MAX_EXTERNAL_CID_BYTES = 64;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Characters with a routing meaning in a tag, or that the MQTT mapping cannot carry in a level. */
const CID_FORBIDDEN = /[@,/+#$*\s]/u;

/** A device id from outside: 1 to 128 bytes of text without control characters. */
export function checkDeviceId(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new IdentityError(`${what}: the device id must be a non-empty string`);
  if (Buffer.byteLength(value) > MAX_EXTERNAL_ID_BYTES) throw new IdentityError(`${what}: the device id is over ${MAX_EXTERNAL_ID_BYTES} bytes`);
  if (CONTROL.test(value)) throw new IdentityError(`${what}: the device id holds a control character`);
  return value;
}

/**
 * A CID from outside: 1 to 64 bytes, none of `@ , / + # $ *` or blanks (each would change how a tag routes or
 * how MQTT names it), not starting with `?` (the anonymous CIDs).
 */
export function checkCid(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new IdentityError(`${what}: the CID must be a non-empty string`);
  if (Buffer.byteLength(value) > MAX_EXTERNAL_CID_BYTES) throw new IdentityError(`${what}: the CID is over ${MAX_EXTERNAL_CID_BYTES} bytes`);
  if (value.startsWith('?')) throw new IdentityError(`${what}: a CID starting with "?" is an anonymous one`);
  if (CID_FORBIDDEN.test(value) || CONTROL.test(value)) throw new IdentityError(`${what}: the CID "${value}" holds one of @ , / + # $ * or a blank`);
  return value;
}

/** A level: absent → the default (3); else an integer (or its decimal text) of the quota table, at most `max`. */
export function checkLevel(value: unknown, what: string, max = 255): number {
  if (value === undefined || value === null) return DEFAULT_LEVEL;
  const level = typeof value === 'string' && /^\d{1,3}$/.test(value) ? Number(value) : value;
  if (typeof level !== 'number' || !Number.isInteger(level) || !Object.hasOwn(QUOTA_TABLE, level)) {
    throw new IdentityError(`${what}: level ${JSON.stringify(value)} is not in the quota table`);
  }
  if (level > max) throw new IdentityError(`${what}: level ${level} is above the most this source may give (${max})`);
  return level;
}

/** The record the login flow admits (no key: none was stored, and none is ever compared). */
export function recordOf(identity: ExternalIdentity): DeviceRecord {
  return { id: identity.did, key: '', cid: identity.cid, level: identity.level };
}

/** Longest delay a node timer takes (about 24.8 days): a later expiry is waited for in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** How long to wait before looking at an expiry again: the time left, capped at what a timer can hold; 0 = now. */
export function expiryDelay(expiresAt: number, now: number): number {
  return Math.max(0, Math.min(expiresAt - now, MAX_TIMER_MS));
}

/**
 * Whether a fresh token may extend a session: it must name the same device and CID (a refresh is not a way to
 * become someone else). Null when it may, else the reason.
 */
export function refreshRefusal(current: ExternalIdentity, fresh: ExternalIdentity): string | null {
  if (fresh.did !== current.did) return `the fresh token names device "${fresh.did}", the session is "${current.did}"`;
  if (fresh.cid !== current.cid) return `the fresh token names CID "${fresh.cid}", the session holds "${current.cid}"`;
  return null;
}
