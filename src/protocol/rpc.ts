// CALL and RESPONSE_MBP (docs/protocol.md §7.1, §7.2): MBP packs behind an unnamed type byte.
import { MSG } from './codes.js';
import { MB, MBA, pack, unpack, type MbpItem, type MbpValue } from './mbp.js';

/** A decoded CALL (§7.1): message id, service and command, and the arguments. */
export interface CallRequest {
  /** Message id, echoed in the response. */
  mid: number;
  /** Service name. */
  target: string;
  /** Command name. */
  topic: string;
  /** Arguments, cut at the first falsy one like the reference (Q10). */
  args: MbpValue[];
}

/** A decoded RESPONSE_MBP: status (< 128 success), message id and body. */
export interface ResponseMbp {
  /** < 128 success, ≥ 128 failure. */
  status: number;
  mid: number;
  /** Absent when the responder had nothing truthy to send (Q11). */
  body?: MbpValue;
}

function isUint(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}

/** CALL: `DE ‖ mid u16BE ‖ target S ‖ topic S [‖ args as MBA]` plus meta. Throws RangeError when mid is not a u16. */
export function encodeCall(mid: number, target: string, topic: string, ...args: unknown[]): Buffer {
  if (!target || !topic) throw new TypeError('CALL needs a target and a topic');
  const fields: Array<MbpItem | MbpItem[]> = [
    MB('#type', '8', MSG.CALL),
    MB('mid', '16', mid),
    MB('target', target),
    MB('topic', topic),
  ];
  if (args.length > 0) fields.push(MBA(...args));
  return pack(...fields);
}

/**
 * A CALL as the server should see it, or null when it must be ignored: not a CALL pack,
 * `mid` not a u16 number (Q12 fix: the reference answers with a garbage mid), or target/topic empty.
 */
export function decodeCall(msg: Uint8Array): CallRequest | null {
  if (msg[0] !== MSG.CALL) return null;
  const fields = unpack(msg);
  if (!fields) return null;
  const { mid, target, topic } = fields;
  if (!isUint(mid, 0xffff)) return null;
  if (typeof target !== 'string' || typeof topic !== 'string' || !target || !topic) return null;
  return { mid, target, topic, args: fields.args ?? [] };
}

/**
 * RESPONSE_MBP: `DD ‖ status u8 ‖ mid u16BE [‖ body]` plus meta. A falsy body is left out (Q11);
 * otherwise it is typed from its value (S, N, O, B or !). Throws RangeError for an out-of-range status or mid.
 */
export function encodeResponseMbp(status: number, mid: number, body?: unknown): Buffer {
  const fields = [MB('#type', '8', MSG.RESPONSE_MBP), MB('status', '8', status), MB('mid', '16', mid)];
  if (body) fields.push(MB('body', body));
  return pack(...fields);
}

/** A RESPONSE_MBP, or null when it is not one or its status/mid are missing. */
export function decodeResponseMbp(msg: Uint8Array): ResponseMbp | null {
  if (msg[0] !== MSG.RESPONSE_MBP) return null;
  const fields = unpack(msg);
  if (!fields) return null;
  const { status, mid, body } = fields;
  if (!isUint(status, 0xff) || !isUint(mid, 0xffff)) return null;
  // `body` is one field; an MbpValue[] only ever appears under args/$.
  return body === undefined ? { status, mid } : { status, mid, body: body as MbpValue };
}
