// Identity without Boho (issue 11 item 2): a device that cannot run the login protocol is known by the
// client certificate it presented under mutual TLS, or by `Authorization: Bearer <id>.<key>` on its WebSocket
// upgrade. A certificate names exactly one device id (issue 16 item 12), chosen by the rule of
// `certificateDeviceId`, the same on every transport.
import { timingSafeEqual } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { keyFromStored, keyFromString, splitIdKey } from '../crypto/keys.js';
import { resolveLevel, type DeviceRecord, type KeyStore } from '../auth/key-store.js';
import type { LoginFailureReason } from './login-guard.js';

export type PresentedIdentity =
  | { kind: 'certificate'; id: string }
  | { kind: 'bearer'; id: string; key: string };

export type IdentityVerdict =
  | { ok: true; record: DeviceRecord; level: number; via: string }
  | { ok: false; reason: string; code: LoginFailureReason };

/**
 * The one device id a verified client certificate names: its first DNS subject alternative name when it has
 * any, else its first CN (the SAN-over-CN precedence of RFC 6125). No other name is ever tried, so a certificate
 * whose id is unknown or revoked stays anonymous instead of falling through to another device it happens to name.
 * Email, URI and IP alternative names are not device ids. Null when the certificate names none.
 */
export function certificateDeviceId(cert: PeerCertificate | null | undefined): string | null {
  if (!cert || Object.keys(cert).length === 0) return null;
  for (const [type, value] of altNames(cert.subjectaltname ?? '')) {
    if (type === 'DNS') return value === '' ? null : value;
  }
  const cn = cert.subject?.CN;
  const first = Array.isArray(cn) ? cn[0] : cn;
  return first ? first : null;
}

/**
 * The entries of node's `subjectaltname` text (`DNS:a, IP Address:10.0.0.1, email:x`), in certificate order.
 * Node writes a value that contains a comma, quote, backslash or control character as a JSON string
 * (`DNS:"a, DNS:b"`), so a value can never pass for a second entry.
 */
function* altNames(text: string): Generator<[type: string, value: string]> {
  let at = 0;
  while (at < text.length) {
    const colon = text.indexOf(':', at);
    if (colon < 0) return;
    const type = text.slice(at, colon).trim();
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      end++;
      try {
        value = String(JSON.parse(text.slice(colon + 1, end)));
      } catch {
        return;
      }
    } else {
      const comma = text.indexOf(',', colon + 1);
      end = comma < 0 ? text.length : comma;
      value = text.slice(colon + 1, end).trim();
    }
    yield [type, value];
    const next = text.indexOf(',', end);
    if (next < 0) return;
    at = next + 1;
  }
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
