// The direct writer of the message path's envelopes (envelope-writer.ts) against msgpackr: the same bytes, and
// msgpackr reads them back, for every size class of strings, sequence numbers and payloads.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KIND, bundleEnvelopes, decodeEnvelope, decodeMessage, encodeEnvelope, packEnvelope, type Envelope } from '../../src/cluster/envelope.js';

const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 300 }), fc.constantFrom('', 'a'.repeat(31), 'a'.repeat(32), 'é'.repeat(128), 'x'.repeat(70_000)));
const seq = fc.oneof(fc.constantFrom(0, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.nat(), fc.maxSafeNat());
/** A client's CID ('' when it took none) or null: the server itself. */
const publisher = fc.oneof(fc.constant(null), fc.constant(''), fc.string({ maxLength: 12 }), fc.constant('p'.repeat(300)));
const payload = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(0, 255, 256, 65_535, 65_536).map((n) => new Uint8Array(n).fill(7)));

describe('cluster envelopes', () => {
  it('PUBLISH (uncapped) and UNICAST are written byte for byte as msgpackr packs them, and read back', () => {
    fc.assert(
      fc.property(fc.boolean(), text, seq, text, payload, publisher, (publish, node, n, key, bytes, from) => {
        const msg = Buffer.from(bytes);
        const env: Envelope = publish
          ? { kind: KIND.PUBLISH, node, seq: n, key, msg, budget: -1, publisher: from }
          : { kind: KIND.UNICAST, node, seq: n, cid: key, msg, publisher: from };
        const written = encodeEnvelope(env);
        assert.deepEqual(decodeEnvelope(written), env);
        // msgpackr may pick a float for large integers where the writer uses uint32 or float64: same value.
        if (n < 2 ** 32) assert.ok(written.equals(packEnvelope(env)), 'the same bytes as msgpackr');
      }),
      { numRuns: 300 },
    );
  });

  it('a bundle is read back as its envelopes, in order; a bad one inside is refused alone', () => {
    const a: Envelope = { kind: KIND.PUBLISH, node: 'A', seq: 1, key: 'CH:x', msg: Buffer.from('one'), budget: -1, publisher: '?pub' };
    const b: Envelope = { kind: KIND.UNICAST, node: 'A', seq: 2, cid: '?abc', msg: Buffer.from('two'), publisher: null };
    for (const count of [2, 15, 16, 300]) {
      const list: Envelope[] = Array.from({ length: count }, (_, i): Envelope => (i % 2 ? b : a));
      assert.deepEqual(decodeMessage(bundleEnvelopes(list.map(encodeEnvelope))), list);
    }
    const bad = Buffer.from([0x93, 0x01, 0xa1, 0x41, 0xc0]); // [1, 'A', nil]: no sequence number
    assert.deepEqual(decodeMessage(bundleEnvelopes([encodeEnvelope(a), bad])), [a, null]);
    assert.equal(decodeEnvelope(bundleEnvelopes([encodeEnvelope(a), encodeEnvelope(b)])), null, 'one envelope expected, a bundle given');
  });
});
