// Identity without Boho (issue 11 item 2): a device that cannot run the login protocol is known by the
// client certificate it presented under mutual TLS, or by `Authorization: Bearer <id>.<key>` on its WebSocket
// upgrade. A certificate names exactly one device id (issue 16 item 12), chosen by the rule of
// `certificateDeviceId`, the same on every transport. What a device presents is read here; whether its key is
// right is the login's decision (connection/login.ts).
import type { PeerCertificate } from 'node:tls';
import { splitIdKey } from '../crypto/keys.js';

/** What a device presents before it says anything: a verified client certificate's device id, or a bearer key. */
export type PresentedIdentity =
  | { kind: 'certificate'; id: string }
  | { kind: 'bearer'; id: string; key: string }
  /** A JWT, or a token only an auth hook can judge (`Bearer <token>` or `?token=`; issue 18). */
  | { kind: 'token'; token: string };

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
