// Encoders and decoders for the fixed-layout messages of docs/protocol.md §2, §3 and §5. Pure functions.
import { isUtf8 } from 'node:buffer';
import { MSG } from './codes.js';

/** SERVER_READY: the greeting after SERVER_TIME_NONCE. */
export const SERVER_READY_MSG: Buffer = Buffer.from([MSG.SERVER_READY]);
/** PING (§1.3). */
export const PING_MSG: Buffer = Buffer.from([MSG.PING]);
/** PONG, the answer to PING. */
export const PONG_MSG: Buffer = Buffer.from([MSG.PONG]);
/** OVER_SIZE: a message over the size quota was dropped (§3.11). */
export const OVER_SIZE_MSG: Buffer = Buffer.from([MSG.OVER_SIZE]);
/** AUTH_FAIL: the login was refused. */
export const AUTH_FAIL_MSG: Buffer = Buffer.from([MSG.AUTH_FAIL]);
/** CID_REQ: a client asks for its CID. */
export const CID_REQ_MSG: Buffer = Buffer.from([MSG.CID_REQ]);
/** UNSUBSCRIBE of every channel. */
export const UNSUBSCRIBE_ALL_MSG: Buffer = Buffer.from([MSG.UNSUBSCRIBE, 0]);

/** SERVER_TIME_NONCE: `B0 ‖ unix u32LE ‖ ms u16LE ‖ rnd2 ‖ nonce4` (§4.4). */
export function encodeServerTimeNonce(nowMs: number, rnd2: Uint8Array, nonce4: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(13);
  out[0] = MSG.SERVER_TIME_NONCE;
  out.writeUInt32LE(Math.floor(nowMs / 1000) >>> 0, 1);
  out.writeUInt16LE(nowMs % 1000, 5);
  out.set(rnd2.subarray(0, 2), 7);
  out.set(nonce4.subarray(0, 4), 9);
  return out;
}

/**
 * SERVER_TIME_NONCE from six random bytes kept as two 24-bit integers (what a connection stores instead of a
 * Buffer): `low` is nonce4's first three bytes, `high` its last byte then rnd2, little-endian. Written byte by
 * byte: it is on every connection's set-up.
 */
export function encodeServerTimeNonceOf(nowMs: number, low: number, high: number): Buffer {
  const out = Buffer.allocUnsafe(13);
  out[0] = MSG.SERVER_TIME_NONCE;
  out.writeUInt32LE(Math.floor(nowMs / 1000) >>> 0, 1);
  out.writeUInt16LE(nowMs % 1000, 5);
  out[7] = (high >>> 8) & 0xff;
  out[8] = (high >>> 16) & 0xff;
  out[9] = low & 0xff;
  out[10] = (low >>> 8) & 0xff;
  out[11] = (low >>> 16) & 0xff;
  out[12] = high & 0xff;
  return out;
}

function typeAndText(type: number, text: string): Buffer {
  const len = Buffer.byteLength(text);
  const out = Buffer.allocUnsafe(1 + len);
  out[0] = type;
  out.write(text, 1);
  return out;
}

/** CID_RES with the connection's CID. */
export const encodeCidRes = (cid: string): Buffer => typeAndText(MSG.CID_RES, cid);
/** QUOTA_LEVEL with the level of an admitted login. */
export const encodeQuotaLevel = (level: number): Buffer => Buffer.from([MSG.QUOTA_LEVEL, level]);
/** AUTH_CLEAR, with a reason when given (a revoked or replaced login). */
export const encodeAuthClear = (reason?: string): Buffer =>
  reason ? typeAndText(MSG.AUTH_CLEAR, reason) : Buffer.from([MSG.AUTH_CLEAR]);
/** SERVER_SIGNAL with its JSON (`{"event", "data"}`). */
export const encodeServerSignal = (json: string): Buffer => typeAndText(MSG.SERVER_SIGNAL, json);
/** IAM_RES with its JSON (§3.8). */
export const encodeIamRes = (json: string): Buffer => typeAndText(MSG.IAM_RES, json);

/** The IAM_RES JSON object (§3.8); the server writes its keys in this order. */
export interface IamInfo {
  ssid: number;
  cid: string;
  did: string;
  uid: string;
  level: number;
  nick: string;
  ip: string;
  /** Internal channel keys subscribed (`CH:x`, `CID:c@t`, `PRIVATE:#t`, `IP:…#t`). */
  tag: string[];
}
/** CLOSE with a reason. */
export const encodeClose = (reason: string | Uint8Array): Buffer =>
  typeof reason === 'string' ? typeAndText(MSG.CLOSE, reason) : Buffer.concat([Buffer.from([MSG.CLOSE]), reason]);

/** Tag list for SUBSCRIBE/UNSUBSCRIBE: `type ‖ tagLen u8 ‖ tags`. Throws over 255 bytes. */
export function encodeTagMessage(type: number, tags: string): Buffer {
  const len = Buffer.byteLength(tags);
  if (len > 255) throw new RangeError(`tag list is ${len} bytes; the limit is 255`);
  const out = Buffer.allocUnsafe(2 + len);
  out[0] = type;
  out[1] = len;
  out.write(tags, 2);
  return out;
}

/** SUBSCRIBE_REQ: `D4 ‖ mid u16BE ‖ tagLen u16BE ‖ tags`. */
export function encodeSubscribeReq(mid: number, tags: string): Buffer {
  const len = Buffer.byteLength(tags);
  const out = Buffer.allocUnsafe(5 + len);
  out[0] = MSG.SUBSCRIBE_REQ;
  out.writeUInt16BE(mid & 0xffff, 1);
  out.writeUInt16BE(len, 3);
  out.write(tags, 5);
  return out;
}

/** SIGNAL / SIGNAL_E2E: `type ‖ tagLen u8 ‖ tag ‖ payloadType ‖ payload` (§5.1). */
export function encodeSignal(
  tag: string | Uint8Array,
  payloadType: number,
  payload: Uint8Array = EMPTY_BYTES,
  type: number = MSG.SIGNAL,
): Buffer {
  const tagBytes = typeof tag === 'string' ? Buffer.from(tag) : tag;
  if (tagBytes.length > 255) throw new RangeError(`tag is ${tagBytes.length} bytes; the limit is 255`);
  const out = Buffer.allocUnsafe(3 + tagBytes.length + payload.length);
  out[0] = type;
  out[1] = tagBytes.length;
  out.set(tagBytes, 2);
  out[2 + tagBytes.length] = payloadType;
  out.set(payload, 3 + tagBytes.length);
  return out;
}

const EMPTY_BYTES = new Uint8Array(0);

/** Reads a tag as UTF-8, or null when the bytes are not valid UTF-8. */
export function readTag(msg: Uint8Array, start: number, end: number): string | null {
  const view = msg.subarray(start, end);
  if (!isUtf8(view)) return null;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('utf8');
}

/**
 * Tag of a SIGNAL/SIGNAL_E2E, or null when the message is malformed. Unlike the reference
 * we require the payloadType byte (Q1): shorter messages would make devices compute a negative length.
 */
export function signalTag(msg: Uint8Array): string | null {
  if (msg.length < 3) return null;
  const tagLen = msg[1]!;
  if (msg.length < tagLen + 3) return null;
  return readTag(msg, 2, 2 + tagLen);
}

/**
 * The message with its tag replaced (payloadType and payload kept). Returns null when the new tag
 * is over 255 bytes (Q27: the reference wraps the length and corrupts the message) or `msg` is shorter
 * than its own tag.
 */
export function retag(msg: Uint8Array, newTag: string): Buffer | null {
  const tagLen = Buffer.byteLength(newTag);
  if (tagLen > 255 || msg.length < 2) return null;
  const tail = 2 + msg[1]!;
  if (msg.length < tail) return null;
  const out = Buffer.allocUnsafe(2 + tagLen + msg.length - tail);
  out[0] = msg[0]!;
  out[1] = tagLen;
  out.write(newTag, 2);
  out.set(msg.subarray(tail), 2 + tagLen);
  return out;
}

/** SUBSCRIBE tag list: needs length ≥ 3 and exactly tagLen + 2 (§5.5). */
export function subscribeTags(msg: Uint8Array): string | null {
  if (msg.length < 3 || msg.length !== msg[1]! + 2) return null;
  return readTag(msg, 2, msg.length);
}

/** A decoded UNSUBSCRIBE: every channel, or the listed tags; null when malformed. */
export type UnsubscribeRequest = { all: true } | { all: false; tags: string } | null;

/** UNSUBSCRIBE: exactly 2 bytes = all; otherwise length ≥ 3 and exactly tagLen + 2. */
export function unsubscribeRequest(msg: Uint8Array): UnsubscribeRequest {
  if (msg.length === 2) return { all: true };
  const tags = subscribeTags(msg);
  return tags === null ? null : { all: false, tags };
}

/** A decoded SUBSCRIBE_REQ: its message id and tags (null when the tags are malformed). */
export interface SubscribeReq {
  mid: number;
  /** Null when the length does not match tagLen + 5 (answered with status 255). */
  tags: string | null;
}

/** SUBSCRIBE_REQ: ignored under 6 bytes; tags only when the length is exactly tagLen + 5. */
export function subscribeReq(msg: Uint8Array): SubscribeReq | null {
  if (msg.length < 6) return null;
  const mid = (msg[1]! << 8) | msg[2]!;
  const tagLen = (msg[3]! << 8) | msg[4]!;
  if (msg.length !== tagLen + 5) return { mid, tags: null };
  return { mid, tags: readTag(msg, 5, msg.length) };
}

/** IAM nick: bytes 1.. when 1 < length < 30, else null (ignored, §3.8). */
export function iamNick(msg: Uint8Array): string | null {
  if (msg.length <= 1 || msg.length >= 30) return null;
  const view = msg.subarray(1);
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('utf8');
}
