// The dispatch table: one handler per client message code, grouped by family in this folder. Unknown codes
// are ignored silently (§2).
import { MSG } from '../../protocol/codes.js';
import { LEGACY } from '../login-flow.js';
import type { Session } from '../session.js';
import { onCall } from './call.js';
import { onClose, onEcho, onIam, onPing, onPong } from './control.js';
import { onEnc488, onEncE2E } from './encrypted.js';
import { onAuthReq, onLegacyNonceRequest, onLegacyProof } from './login.js';
import { onCidReq, onSignal, onSubscribe, onSubscribeReq, onUnsubscribe } from './pubsub.js';

/** `outer`: the message came straight off the link, not out of an ENC_488 envelope. */
export type Handler = (s: Session, msg: Uint8Array, outer: boolean) => void;

const HANDLERS: (Handler | undefined)[] = new Array<Handler | undefined>(256).fill(undefined);
const on = (code: number, handler: Handler): void => {
  HANDLERS[code] = handler;
};

on(MSG.SIGNAL, onSignal);
on(MSG.SIGNAL_E2E, onSignal);
on(MSG.SUBSCRIBE, onSubscribe);
on(MSG.SUBSCRIBE_REQ, onSubscribeReq);
on(MSG.UNSUBSCRIBE, onUnsubscribe);
on(MSG.CID_REQ, onCidReq);
on(MSG.IAM, onIam);
on(MSG.ECHO, onEcho);
on(MSG.PING, onPing);
on(MSG.PONG, onPong);
on(MSG.CLOSE, onClose);
on(MSG.CALL, onCall);
on(MSG.AUTH_REQ, onAuthReq);
on(LEGACY.NONCE_REQUEST, onLegacyNonceRequest);
on(LEGACY.PROOF, onLegacyProof);
on(MSG.ENC_488, onEnc488);
on(MSG.ENC_E2E, onEncE2E);

export function dispatch(s: Session, msg: Uint8Array, outer: boolean): void {
  HANDLERS[msg[0]!]?.(s, msg, outer);
}
