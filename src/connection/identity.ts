// Identity without Boho (issue 11 item 2): a device that cannot run the login protocol is known by the
// client certificate it presented under mutual TLS (its CN, or a subject alternative name, is a device id
// in the key store), or by `Authorization: Bearer <id>.<key>` on its WebSocket upgrade.
import { timingSafeEqual } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { keyFromStored, keyFromString, splitIdKey } from '../crypto/keys.js';
import { resolveLevel, type DeviceRecord, type KeyStore } from '../auth/key-store.js';
import type { LoginFailureReason } from './login-guard.js';

export type PresentedIdentity =
  | { kind: 'certificate'; names: string[] }
  | { kind: 'bearer'; id: string; key: string };

export type IdentityVerdict =
  | { ok: true; record: DeviceRecord; level: number; via: string }
  | { ok: false; reason: string; code: LoginFailureReason };

/** Most names tried from one certificate (CN first, then SANs). */
const MAX_CERT_NAMES = 8;

/** The CN, then DNS, email and URI alternative names of a verified client certificate. */
export function certificateNames(cert: PeerCertificate | null | undefined): string[] {
  if (!cert || Object.keys(cert).length === 0) return [];
  const names: string[] = [];
  const cn = cert.subject?.CN;
  for (const value of Array.isArray(cn) ? cn : cn ? [cn] : []) names.push(value);
  for (const entry of (cert.subjectaltname ?? '').split(',')) {
    const match = /^\s*(DNS|email|URI):(.+?)\s*$/.exec(entry);
    if (match) names.push(match[2]!);
  }
  return [...new Set(names)].slice(0, MAX_CERT_NAMES);
}

/** `Bearer id.key` → the pair; null for anything else. */
export function bearerFromHeader(header: string | undefined): { id: string; key: string } | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match) return null;
  const pair = splitIdKey(match[1]!);
  return pair && pair.id !== '' && pair.key !== '' ? pair : null;
}

function usable(record: DeviceRecord, via: string): IdentityVerdict {
  if (!record.cid || record.cid.startsWith('?')) return { ok: false, reason: `${via}: device "${record.id}" has no usable stored cid`, code: 'bad_record' };
  const level = resolveLevel(record.level);
  if (level === null) return { ok: false, reason: `${via}: device "${record.id}" has level ${String(record.level)}, not in the quota table`, code: 'bad_record' };
  return { ok: true, record, level, via };
}

export async function decideIdentity(store: KeyStore | null, identity: PresentedIdentity): Promise<IdentityVerdict> {
  if (!store) return { ok: false, reason: 'no key store configured', code: 'no_key_store' };
  try {
    if (identity.kind === 'certificate') {
      for (const name of identity.names) {
        const record = await store.lookup(name);
        if (record) return usable(record, `certificate "${name}"`);
      }
      return { ok: false, reason: `certificate names no stored device (${identity.names.join(', ') || 'no names'})`, code: 'unknown_id' };
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
