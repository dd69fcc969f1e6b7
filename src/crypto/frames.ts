// Byte layouts of the encrypted Boho messages (docs/protocol.md §4.5, §4.6). Stateless: keys and salts come from the caller.
import { MSG } from '../protocol/codes.js';
import { NONCE_SIZE, SALT_SIZE, TAG_SIZE, sameBytes, tag8, xotp, xotpInto } from './otp.js';

/** type ‖ len ‖ otpSrc8 ‖ hmac8 — the header of ENC_488 and ENC_E2E. */
export const SESSION_HEADER_SIZE = 1 + 4 + 8 + TAG_SIZE;
/** type ‖ len ‖ salt12 ‖ hmac8 — the header of ENC_PACK. */
export const PACK_HEADER_SIZE = 1 + 4 + SALT_SIZE + TAG_SIZE;
const OTP_SRC8_SIZE = SALT_SIZE - NONCE_SIZE;

/**
 * ENC_488 / ENC_E2E: `type ‖ u32LE(len) ‖ otpSrc8 ‖ hmac8 ‖ xotp(secret) ‖ rest`.
 * Only the first 8 salt bytes travel: the last 4 are the receiver's own nonce.
 */
export function sealSession(type: number, key: Uint8Array, salt12: Uint8Array, secret: Uint8Array, rest?: Uint8Array): Buffer {
  const restLength = rest ? rest.length : 0;
  const out = Buffer.allocUnsafe(SESSION_HEADER_SIZE + secret.length + restLength);
  out[0] = type;
  out.writeUInt32LE(secret.length, 1);
  out.set(salt12.subarray(0, OTP_SRC8_SIZE), 5);
  out.set(tag8(key, salt12, secret), 13);
  xotpInto(key, salt12, secret, out.subarray(SESSION_HEADER_SIZE, SESSION_HEADER_SIZE + secret.length));
  if (rest) out.set(rest, SESSION_HEADER_SIZE + secret.length);
  return out;
}

export interface OpenedSession {
  /** The decrypted `len` bytes. */
  secret: Buffer;
  /** Where the bytes after the encrypted part start (ENC_E2E appends its untouched ENC_PACK there). */
  restOffset: number;
}

/**
 * Reads ENC_488 / ENC_E2E with salt12 = otpSrc8 ‖ localNonce. Null on a wrong type byte, a short message,
 * `len` 0 (the reference throws there) or beyond the message, or an hmac8 mismatch.
 */
export function openSession(type: number, key: Uint8Array, localNonce: Uint8Array, msg: Uint8Array): OpenedSession | null {
  if (msg.length <= SESSION_HEADER_SIZE || msg[0] !== type) return null;
  const bytes = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  const length = bytes.readUInt32LE(1);
  const end = SESSION_HEADER_SIZE + length;
  if (length === 0 || end > bytes.length) return null;
  const salt12 = Buffer.concat([bytes.subarray(5, 5 + OTP_SRC8_SIZE), localNonce.subarray(0, NONCE_SIZE)]);
  const secret = xotp(key, salt12, bytes.subarray(SESSION_HEADER_SIZE, end));
  if (!sameBytes(tag8(key, salt12, secret), bytes.subarray(13, SESSION_HEADER_SIZE))) return null;
  return { secret, restOffset: end };
}

/** ENC_PACK: `B6 ‖ u32LE(len) ‖ salt12 ‖ hmac8 ‖ xotp(data)`; the whole salt travels. */
export function sealPack(key: Uint8Array, salt12: Uint8Array, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PACK_HEADER_SIZE + data.length);
  out[0] = MSG.ENC_PACK;
  out.writeUInt32LE(data.length, 1);
  out.set(salt12.subarray(0, SALT_SIZE), 5);
  out.set(tag8(key, salt12, data), 17);
  xotpInto(key, salt12, data, out.subarray(PACK_HEADER_SIZE));
  return out;
}

/** The data of an ENC_PACK, or null: wrong type, `len` ≠ total − 25, or hmac8 mismatch (e.g. the wrong key). */
export function openPack(key: Uint8Array, pack: Uint8Array): Buffer | null {
  if (pack.length < PACK_HEADER_SIZE || pack[0] !== MSG.ENC_PACK) return null;
  const bytes = Buffer.from(pack.buffer, pack.byteOffset, pack.byteLength);
  if (bytes.readUInt32LE(1) !== bytes.length - PACK_HEADER_SIZE) return null;
  const salt12 = bytes.subarray(5, 17);
  const data = xotp(key, salt12, bytes.subarray(PACK_HEADER_SIZE));
  return sameBytes(tag8(key, salt12, data), bytes.subarray(17, PACK_HEADER_SIZE)) ? data : null;
}
