// The fast keystream against a plain one-hash-object-per-block reading of docs/protocol.md §4.1 (pad i = H(OTP ‖ u32LE(i))).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { xorKeystream } from '../../src/crypto/keystream.js';

/** The specification, written the slow and obvious way. */
function referenceXor(otp: Uint8Array, data: Uint8Array): Buffer {
  const out = Buffer.alloc(data.length);
  const index = Buffer.alloc(4);
  for (let offset = 0, block = 1; offset < data.length; offset += 32, block++) {
    index.writeUInt32LE(block >>> 0, 0);
    const pad = createHash('sha256').update(otp).update(index).digest();
    for (let i = offset; i < Math.min(offset + 32, data.length); i++) out[i] = data[i]! ^ pad[i - offset]!;
  }
  return out;
}

describe('xorKeystream', () => {
  it('matches the reference on every length around block edges', () => {
    const otp = randomBytes(32);
    for (let n = 0; n <= 200; n++) {
      const data = randomBytes(n);
      const out = Buffer.alloc(n);
      xorKeystream(otp, data, out);
      assert.deepEqual(out, referenceXor(otp, data), `length ${n}`);
    }
  });

  it('matches the reference for random keys and data (seeded)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 2000 }), (otp, data) => {
        const out = new Uint8Array(data.length);
        xorKeystream(otp, data, out);
        assert.deepEqual(Buffer.from(out), referenceXor(otp, data));
      }),
      { seed: 9005, numRuns: 200 },
    );
  });

  it('works in place and is its own inverse', () => {
    const otp = randomBytes(32);
    const plain = randomBytes(1000);
    const work = Buffer.from(plain);
    xorKeystream(otp, work, work);
    assert.deepEqual(work, referenceXor(otp, plain));
    xorKeystream(otp, work, work);
    assert.deepEqual(work, plain);
  });

  it('lines up when a message is processed in slices (firstBlock)', () => {
    const otp = randomBytes(32);
    const data = randomBytes(32 * 10 + 5);
    const whole = referenceXor(otp, data);
    const out = Buffer.alloc(data.length);
    xorKeystream(otp, data.subarray(0, 96), out.subarray(0, 96), 0);
    xorKeystream(otp, data.subarray(96), out.subarray(96), 3);
    assert.deepEqual(out, whole);
  });

  it('handles block indexes with every byte set (the u32LE swap)', () => {
    const otp = randomBytes(32);
    const data = randomBytes(64);
    const out = Buffer.alloc(64);
    const first = 0x01020304 - 1;
    xorKeystream(otp, data, out, first);
    const expected = Buffer.alloc(64);
    for (let k = 0; k < 2; k++) {
      const index = Buffer.alloc(4);
      index.writeUInt32LE(first + 1 + k, 0);
      const pad = createHash('sha256').update(otp).update(index).digest();
      for (let i = 0; i < 32; i++) expected[32 * k + i] = data[32 * k + i]! ^ pad[i]!;
    }
    assert.deepEqual(out, expected);
  });
});
