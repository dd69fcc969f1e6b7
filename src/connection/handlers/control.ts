// ECHO, IAM, PING, PONG and CLOSE (docs/protocol.md §3.7–§3.9, §1.3).
import { encodeIamRes, iamNick, type IamInfo } from '../../protocol/messages.js';
import type { Session } from '../session.js';

/** ECHO replies only below this size, like the reference. */
const ECHO_LIMIT = 30;

/** Q9: the reply follows the encryption rule; the 30-byte limit stays. */
export function onEcho(s: Session, msg: Uint8Array): void {
  if (msg.length < ECHO_LIMIT) s.channel.sendEligible(Buffer.from(msg));
}

/**
 * The nick every io-serial bridge gives itself (`serial:<port>`): its IAM declares the connection a serial device,
 * on CongSocket (no upgrade header) and for bridges older than the X-Iosig-Device header alike; a later IAM with
 * another nick undoes it, as before the header existed.
 */
const SERIAL_NICK = 'serial:';

export function onIam(s: Session, msg: Uint8Array): void {
  const nick = iamNick(msg);
  if (nick !== null) {
    s.nick = nick;
    s.declareSerial(nick.startsWith(SERIAL_NICK), true);
  }
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
