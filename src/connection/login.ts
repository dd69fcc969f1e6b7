// The key decisions of a login: an AUTH_REQ (docs/protocol.md §4.4 steps 1–8), and a certificate or bearer identity
// (guard/identity.ts reads what the device presented). Nothing here changes connection state: the connection
// commits only after every check has passed (Q19).
import { timingSafeEqual } from 'node:crypto';
import type { AuthRequest, BohoSession } from '../crypto/boho.js';
import { keyFromStored, keyFromString } from '../crypto/keys.js';
import { resolveLevel, type DeviceRecord, type KeyStore } from '../auth/key-store.js';
import type { LoginFailureReason } from '../guard/login-guard.js';
import type { PresentedIdentity } from '../guard/identity.js';

export type LoginVerdict =
  | { ok: true; record: DeviceRecord; key: Buffer; level: number }
  | { ok: false; reason: string; code: LoginFailureReason };

const refuse = (reason: string, code: LoginFailureReason = 'bad_record'): LoginVerdict => ({ ok: false, reason, code });

export async function decideLogin(store: KeyStore | null, session: BohoSession, req: AuthRequest): Promise<LoginVerdict> {
  if (!store) return refuse('no key store configured', 'no_key_store');
  let record: DeviceRecord | null;
  try {
    record = await store.lookup(req.id);
  } catch (err) {
    return refuse(`key store unavailable: ${err instanceof Error ? err.message : String(err)}`, 'store_error');
  }
  if (!record) return refuse(`unknown id "${req.id}"`, 'unknown_id');
  // Q33: an empty stored CID would give the device an anonymous one and a bogus index entry.
  if (!record.cid) return refuse(`id "${req.id}" has no stored cid`);
  if (record.cid.startsWith('?')) return refuse(`id "${req.id}" has a stored cid starting with "?"`);
  let key: Buffer;
  try {
    key = keyFromStored(record.key);
  } catch {
    return refuse(`id "${req.id}" has an unreadable stored key`);
  }
  if (!session.checkAuthReq(req, key)) return refuse(`wrong key for id "${req.id}"`, 'wrong_key');
  const level = resolveLevel(record.level);
  if (level === null) return refuse(`id "${req.id}" has level ${String(record.level)}, not in the quota table`);
  return { ok: true, record, key, level };
}

export type IdentityVerdict =
  | { ok: true; record: DeviceRecord; level: number; via: string }
  | { ok: false; reason: string; code: LoginFailureReason };

function usable(record: DeviceRecord, via: string): IdentityVerdict {
  if (!record.cid || record.cid.startsWith('?')) return { ok: false, reason: `${via}: device "${record.id}" has no usable stored cid`, code: 'bad_record' };
  const level = resolveLevel(record.level);
  if (level === null) return { ok: false, reason: `${via}: device "${record.id}" has level ${String(record.level)}, not in the quota table`, code: 'bad_record' };
  return { ok: true, record, level, via };
}

export async function decideIdentity(store: KeyStore | null, identity: PresentedIdentity): Promise<IdentityVerdict> {
  if (!store) return { ok: false, reason: 'no key store configured', code: 'no_key_store' };
  // Tokens are judged by the outside sources (login-flow.ts); one of the `<id>.<key>` form comes here as a bearer.
  if (identity.kind === 'token') return { ok: false, reason: 'a token is not a key', code: 'malformed' };
  try {
    if (identity.kind === 'certificate') {
      const via = `certificate "${identity.id}"`;
      const record = await store.lookup(identity.id);
      if (!record) return { ok: false, reason: `${via} names no stored device`, code: 'unknown_id' };
      return usable(record, via);
    }
    const record = await store.lookup(identity.id);
    if (!record) return { ok: false, reason: `bearer: unknown id "${identity.id}"`, code: 'unknown_id' };
    let stored: Buffer;
    try {
      stored = keyFromStored(record.key);
    } catch {
      return { ok: false, reason: `bearer: id "${identity.id}" has an unreadable stored key`, code: 'bad_record' };
    }
    if (!timingSafeEqual(stored, keyFromString(identity.key))) {
      return { ok: false, reason: `bearer: wrong key for id "${identity.id}"`, code: 'wrong_key' };
    }
    return usable(record, 'bearer');
  } catch (err) {
    return { ok: false, reason: `key store unavailable: ${err instanceof Error ? err.message : String(err)}`, code: 'store_error' };
  }
}
