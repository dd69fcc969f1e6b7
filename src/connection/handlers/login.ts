// AUTH_REQ and the boho 1.x login codes, handed to the connection's login flow.
import type { Session } from '../session.js';

export function onAuthReq(s: Session, msg: Uint8Array): void {
  s.login.authReq(msg);
}

export function onLegacyNonceRequest(s: Session): void {
  s.login.legacyNonceRequest();
}

export function onLegacyProof(s: Session, msg: Uint8Array): void {
  s.login.legacyProof(msg);
}
