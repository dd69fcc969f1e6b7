// Boho's hash-based primitives (docs/protocol.md §4.1): SHA-256, the keystream XOR, the keyed 8-byte tag and the time salt.
import { createHash, timingSafeEqual } from 'node:crypto';
import { xorKeystream } from './keystream.js';

export const KEY_SIZE = 32;
export const SALT_SIZE = 12;
export const NONCE_SIZE = 4;
export const TAG_SIZE = 8;

/** SHA-256 of the concatenated parts. */
export function sha256(...parts: Uint8Array[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/**
 * XOR `data` with the keystream of otpSrc44 = key ‖ salt12: block k (from 0) uses
 * H(OTP ‖ u32LE(k + 1)) with OTP = H(key ‖ salt12). It is its own inverse.
 */
export function xotp(key: Uint8Array, salt12: Uint8Array, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  xotpInto(key, salt12, data, out);
  return out;
}

/** xotp written into `out` (at least `data.length` bytes; may be `data` itself), so callers can skip a copy. */
export function xotpInto(key: Uint8Array, salt12: Uint8Array, data: Uint8Array, out: Uint8Array): void {
  xorKeystream(sha256(key, salt12), data, out);
}

/** HMAC8: the first 8 bytes of H(key ‖ salt12 ‖ message) — Boho's keyed hash, not RFC 2104. */
export function tag8(key: Uint8Array, salt12: Uint8Array, message: Uint8Array): Buffer {
  return sha256(key, salt12, message).subarray(0, TAG_SIZE);
}

/** Constant-time equality; unequal lengths are simply unequal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** salt12 = u32LE(unix seconds) ‖ u16LE(ms 0–999) ‖ u16LE(counter) ‖ tail4 (a nonce or 4 random bytes). */
export function timeSalt(nowMs: number, counter: number, tail4: Uint8Array): Buffer {
  const wholeMs = Math.floor(nowMs);
  const salt = Buffer.alloc(SALT_SIZE);
  // `>>> 0` keeps the seconds a u32 the way the reference's typed write does (it wraps in 2106).
  salt.writeUInt32LE(Math.floor(wholeMs / 1000) >>> 0, 0);
  salt.writeUInt16LE(((wholeMs % 1000) + 1000) % 1000, 4);
  salt.writeUInt16LE(counter & 0xffff, 6);
  salt.set(tail4.subarray(0, NONCE_SIZE), 8);
  return salt;
}
