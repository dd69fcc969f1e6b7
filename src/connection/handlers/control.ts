// ECHO, IAM, PING, PONG and CLOSE (PROTOCOL.md §3.7–§3.9, §1.3).
import { encodeIamRes, iamNick, type IamInfo } from '../../protocol/messages.js';
import type { Session } from '../session.js';

/** ECHO replies only below this size, like the reference. */
const ECHO_LIMIT = 30;

/** Q9: the reply follows the encryption rule; the 30-byte limit stays. */
export function onEcho(s: Session, msg: Uint8Array): void {
  if (msg.length < ECHO_LIMIT) s.channel.sendEligible(Buffer.from(msg));
}

export function onIam(s: Session, msg: Uint8Array): void {
  const nick = iamNick(msg);
  if (nick !== null) s.nick = nick;
  s.channel.sendEligible(encodeIamRes(JSON.stringify(iamOf(s))));
}

/** The IAM_RES object, keys in the reference's order (§3.8). */
export function iamOf(s: Session): IamInfo {
  return { ssid: s.ssid, cid: s.cid, did: s.did, uid: s.uid, level: s.level, nick: s.nick, ip: s.ip, tag: s.port.channelsOf(s) };
}

export function onPing(s: Session): void {
  s.link.answerPing();
}

export function onPong(): void {}

export function onClose(s: Session, msg: Uint8Array): void {
  if (msg.length <= 1) return; // a bare CLOSE is ignored, like the reference (Q8)
  const reason = Buffer.from(msg.subarray(1)).toString('utf8');
  s.close(`client CLOSE: ${reason}`);
}
