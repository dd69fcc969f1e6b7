// The Boho keystream XOR (docs/protocol.md §4.1) without one native hash object per 32 bytes.
//
// Pad i = SHA-256(OTP ‖ u32LE(i)) always hashes 36 bytes, so each pad is exactly one SHA-256 compression of a
// 64-byte block whose words 0–7 (the OTP) and 9–15 (padding, length 288) never change; only word 8 (the block
// index) does. So the first 8 rounds and message-schedule words 16–22 are computed once per message, and each pad
// costs 56 rounds in plain 32-bit integer arithmetic (written out in pad-rounds.ts), with no allocation. About 5×
// faster than a createHash per block (npm run bench:crypto); the bytes are identical (test/crypto/keystream.test.ts,
// test/vectors/boho.json).
import { padRounds } from './pad-rounds.js';

/** The first 8 SHA-256 round constants (the rest are inlined in pad-rounds.ts). */
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
]);
const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
/** Word 9 (the 0x80 padding byte) and word 15 (the message length in bits: 36 × 8). */
const PAD_WORD = 0x80000000 | 0;
const LENGTH_WORD = 36 * 8;
const BLOCK_SIZE = 32;

const sigma0 = (x: number): number => ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
const sigma1 = (x: number): number => ((x >>> 17) | (x << 15)) ^ ((x >>> 19) | (x << 13)) ^ (x >>> 10);

/** Per-message state: the schedule words and the working state after round 7, both fixed by the OTP. */
class PadGenerator {
  /** Message schedule; slots 8 and 23–63 are rewritten for every block. */
  private readonly w = new Int32Array(64);
  /** a..h after the 8 OTP-only rounds. */
  private readonly mid = new Int32Array(8);
  /** The current pad as 8 big-endian words. */
  readonly pad = new Int32Array(8);

  constructor(otp: Uint8Array) {
    const w = this.w;
    for (let i = 0; i < 8; i++) {
      w[i] = (otp[4 * i]! << 24) | (otp[4 * i + 1]! << 16) | (otp[4 * i + 2]! << 8) | otp[4 * i + 3]!;
    }
    w[9] = PAD_WORD;
    w[15] = LENGTH_WORD;
    for (let i = 16; i <= 22; i++) w[i] = (sigma1(w[i - 2]!) + w[i - 7]! + sigma0(w[i - 15]!) + w[i - 16]!) | 0;
    let a = IV[0]!, b = IV[1]!, c = IV[2]!, d = IV[3]!, e = IV[4]!, f = IV[5]!, g = IV[6]!, h = IV[7]!;
    for (let i = 0; i < 8; i++) {
      const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
      const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    const mid = this.mid;
    mid[0] = a; mid[1] = b; mid[2] = c; mid[3] = d; mid[4] = e; mid[5] = f; mid[6] = g; mid[7] = h;
  }

  /** Fills `pad` with SHA-256(OTP ‖ u32LE(index)). */
  compute(index: number): void {
    // u32LE(index) read as the big-endian word SHA-256 sees.
    this.w[8] = ((index & 0xff) << 24) | ((index & 0xff00) << 8) | ((index >>> 8) & 0xff00) | (index >>> 24);
    padRounds(this.w, this.mid, this.pad);
  }
}

/**
 * Writes `input XOR keystream(otp)` into `output` (same length; may be the same bytes), starting at block
 * `firstBlock` (0-based, so slices of one message can be processed separately and still line up).
 */
export function xorKeystream(otp: Uint8Array, input: Uint8Array, output: Uint8Array, firstBlock = 0): void {
  const gen = new PadGenerator(otp);
  const pad = gen.pad;
  const length = input.length;
  const whole = length - (length % BLOCK_SIZE);
  let block = firstBlock + 1;
  let o = 0;
  for (; o < whole; o += BLOCK_SIZE, block++) {
    gen.compute(block);
    for (let j = 0; j < 8; j++) {
      const word = pad[j]!;
      const p = o + 4 * j;
      output[p] = input[p]! ^ (word >>> 24);
      output[p + 1] = input[p + 1]! ^ (word >>> 16);
      output[p + 2] = input[p + 2]! ^ (word >>> 8);
      output[p + 3] = input[p + 3]! ^ word;
    }
  }
  if (o < length) {
    gen.compute(block);
    for (let p = o; p < length; p++) {
      const word = pad[(p - o) >>> 2]!;
      output[p] = input[p]! ^ (word >>> (24 - 8 * ((p - o) & 3)));
    }
  }
}
