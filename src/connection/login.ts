// Deciding an AUTH_REQ (PROTOCOL.md §4.4 steps 1–8). Nothing here changes connection state: the
// connection commits only after every check has passed (Q19).
import type { AuthRequest, BohoSession } from '../crypto/boho.js';
import { keyFromStored } from '../crypto/boho.js';
import { resolveLevel, type DeviceRecord, type KeyStore } from '../auth/key-store.js';
import type { LoginFailureReason } from './login-guard.js';

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
