// CALL (docs/protocol.md §7.1): answered through the attached services; a CALL without a valid mid is ignored (Q12).
import { STATUS } from '../../protocol/codes.js';
import { decodeCall, encodeResponseMbp } from '../../protocol/rpc.js';
import type { Session } from '../session.js';
import { containAsync } from '../contain.js';

export function onCall(s: Session, msg: Uint8Array): void {
  const call = decodeCall(msg);
  if (!call) return s.bad('malformed CALL');
  containAsync(s, 'a service reply', s.port.call(s, call), (reply) => {
    let response: Buffer;
    try {
      response = encodeResponseMbp(reply.status, call.mid, reply.body);
    } catch (err) {
      // A service answered something the wire cannot carry (status past 255, a BigInt...).
      s.report(`service ${call.target}.${call.topic} gave a reply that cannot be encoded: ${String(err)}`);
      response = encodeResponseMbp(STATUS.ERROR, call.mid, 'INTERNAL_SERVER_ERROR');
    }
    s.channel.sendEligible(response);
  });
}
