// ENC_488 and ENC_E2E envelopes from logged-in sessions (docs/protocol.md §4.5, §4.6).
import { MSG } from '../../protocol/codes.js';
import type { Session } from '../session.js';
import { onSignal } from './pubsub.js';

/** ENC_488: any inner message, once; dropped from sessions that are not authorised (Q20). */
export function onEnc488(s: Session, msg: Uint8Array, outer: boolean): void {
  if (!outer) return s.bad('nested encryption');
  const boho = s.authorized ? s.channel.boho : null;
  if (!boho?.authorized) return s.bad('encrypted message from a connection without a Boho session');
  if (s.port.sealPool.offloads(msg.length)) return s.channel.openLater(msg);
  const plain = boho.decrypt488(msg);
  if (!plain || plain.length === 0) return s.bad('ENC_488 that does not decrypt');
  s.dispatchInner(plain);
}

/** ENC_E2E: a SIGNAL_E2E with a session-encrypted header, routed like a SIGNAL (§4.6). */
export function onEncE2E(s: Session, msg: Uint8Array, outer: boolean): void {
  if (!outer) return s.bad('nested encryption');
  const boho = s.authorized ? s.channel.boho : null;
  if (!boho?.authorized) return s.bad('encrypted message from a connection without a Boho session');
  const plain = boho.openE2E(msg);
  if (!plain || plain[0] !== MSG.SIGNAL_E2E) return s.bad('ENC_E2E that does not decrypt to a SIGNAL_E2E');
  onSignal(s, plain);
}
