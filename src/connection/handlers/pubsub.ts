// SIGNAL / SIGNAL_E2E, SUBSCRIBE, SUBSCRIBE_REQ, UNSUBSCRIBE and CID_REQ (docs/protocol.md §3.2–§3.6, §5).
import { STATE, STATUS } from '../../protocol/codes.js';
import { encodeCidRes, subscribeReq, subscribeTags, unsubscribeRequest } from '../../protocol/messages.js';
import { encodeResponseMbp } from '../../protocol/rpc.js';
import type { Session } from '../session.js';
import { TagMemo } from '../tag-memo.js';

/** A SIGNAL goes straight to the broker: the session is its publisher. */
export function onSignal(s: Session, msg: Uint8Array): void {
  const tag = (s.tagMemo ??= new TagMemo()).read(msg);
  if (tag === null) return s.bad('malformed SIGNAL (short or invalid UTF-8 tag)');
  s.port.publish(s, msg, tag);
}

export function onSubscribe(s: Session, msg: Uint8Array): void {
  const tags = subscribeTags(msg);
  if (tags === null) return s.bad('malformed SUBSCRIBE');
  s.port.subscribe(s, tags);
}

export function onSubscribeReq(s: Session, msg: Uint8Array): void {
  const req = subscribeReq(msg);
  if (!req) return s.bad('short SUBSCRIBE_REQ');
  if (req.tags === null) return s.channel.sendEligible(encodeResponseMbp(STATUS.ERROR, req.mid));
  // Refused by a cap (subscriptions per connection, channels): ERROR, the accepted ones stay.
  const refused = s.port.subscribe(s, req.tags);
  s.channel.sendEligible(encodeResponseMbp(refused > 0 ? STATUS.ERROR : STATUS.OK, req.mid));
}

export function onUnsubscribe(s: Session, msg: Uint8Array): void {
  const req = unsubscribeRequest(msg);
  if (!req) return s.bad('malformed UNSUBSCRIBE');
  s.port.unsubscribe(s, req.all ? null : req.tags);
}

export function onCidReq(s: Session): void {
  if (!s.cid) s.port.anonymousCid(s);
  s.state = STATE.CID_RES;
  s.channel.sendEligible(encodeCidRes(s.cid));
}
