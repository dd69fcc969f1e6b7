// The direct writer of the message path's envelopes (envelope-writer.ts) against msgpackr: the same bytes, and
// msgpackr reads them back, for every size class of strings, sequence numbers and payloads.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  KIND,
  bundleEnvelopes,
  decodeEnvelope,
  decodeMessage,
  decodeRetained,
  encodeEnvelope,
  encodeRetained,
  packEnvelope,
  type Envelope,
} from '../../src/cluster/envelope.js';
import { envelopeShapeOk } from '../../src/cluster/envelope-shape.js';

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
      assert.deepEqual(decodeMessage(bundleEnvelopes(list.map(encodeEnvelope))), { seq: -1, envelopes: list });
    }
    const bad = Buffer.from([0x93, 0x01, 0xa1, 0x41, 0xc0]); // [1, 'A', nil]: no sequence number
    assert.deepEqual(decodeMessage(bundleEnvelopes([encodeEnvelope(a), bad])), { seq: -1, envelopes: [a, null] });
    assert.equal(decodeEnvelope(bundleEnvelopes([encodeEnvelope(a), encodeEnvelope(b)])), null, 'one envelope expected, a bundle given');
  });

  it('a sequenced bundle carries its first sequence number in a header, read back apart from the envelopes', () => {
    const a: Envelope = { kind: KIND.PUBLISH, node: 'A', seq: 1, key: 'CH:x', msg: Buffer.from('one'), budget: -1, publisher: '?pub' };
    fc.assert(
      fc.property(seq, fc.integer({ min: 1, max: 300 }), fc.nat(3), (n, count, skip) => {
        const encoded = Array.from({ length: count + skip }, () => encodeEnvelope(a));
        const message = bundleEnvelopes(encoded, n, skip, skip + count);
        assert.deepEqual(decodeMessage(message), { seq: n, envelopes: Array.from({ length: count }, () => a) });
      }),
      { numRuns: 200 },
    );
    // The header costs a few bytes per Redis message, nothing per envelope.
    const one = encodeEnvelope(a);
    assert.equal(bundleEnvelopes([one], 1).length - one.length, 4, '[[0, 1], envelope]: 4 bytes around one envelope');
    assert.equal(bundleEnvelopes(Array.from({ length: 100 }, () => one), 70_000).length - 100 * one.length, 3 + 2 + 5);
  });
});

describe('what the bus reads from Redis (issue 16 items 1 and 10)', () => {
  it('an envelope from an older node, without a publisher, reads as publisher ""', () => {
    const packr = new Packr({ useRecords: false, moreTypes: false });
    const msg = Buffer.from('m');
    assert.deepEqual(decodeEnvelope(packr.pack([KIND.PUBLISH, 'old', 1, 'CH:x', msg, -1])), {
      kind: KIND.PUBLISH,
      node: 'old',
      seq: 1,
      key: 'CH:x',
      msg,
      budget: -1,
      publisher: '',
    });
    assert.deepEqual(decodeEnvelope(packr.pack([KIND.UNICAST, 'old', 2, '?abc', msg])), { kind: KIND.UNICAST, node: 'old', seq: 2, cid: '?abc', msg, publisher: '' });
    assert.equal(decodeEnvelope(packr.pack([KIND.UNICAST, 'old', 2, '?abc', msg, 5])), null, 'a publisher that is neither text nor nil');
  });

  it('a retained value is [msg, publisher]; the bare message an older node wrote reads as publisher ""', () => {
    const msg = Buffer.from('d00378243100', 'hex');
    for (const publisher of ['?pub', '', null]) assert.deepEqual(decodeRetained(encodeRetained(msg, publisher)), { msg, publisher });
    assert.deepEqual(decodeRetained(msg), { msg, publisher: '' });
    assert.equal(decodeRetained(Buffer.from([0x92, 0x01, 0x02])), null);
  });

  it('a message nested deeper than envelopes are, or holding an extension type, is refused before msgpackr reads it', () => {
    for (const depth of [4, 100, 10_000, 1_000_000]) {
      const deep = Buffer.concat([Buffer.alloc(depth, 0x91), Buffer.from([0x90])]);
      assert.equal(envelopeShapeOk(deep), false, `${depth} levels`);
      assert.equal(decodeMessage(deep), null);
    }
    const maps = Buffer.concat([Buffer.from([0x91]), Buffer.alloc(10_000).fill(Buffer.from([0x81, 0xa0])), Buffer.from([0xc0])]);
    assert.equal(envelopeShapeOk(maps), false, 'nested maps');
    for (const hex of ['93d4730190a14101', '93c7010001a14101', '93d6ff00000001a14101', 'c1', '9301a141', 'dd7fffffff', 'c4ff00']) {
      assert.equal(envelopeShapeOk(Buffer.from(hex, 'hex')), false, hex);
    }
    assert.equal(envelopeShapeOk(Buffer.from('939090c0', 'hex')), true, 'three levels, empty lists');
  });

  it('every envelope and bundle the bus writes passes the shape check', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(text, seq, text, payload, publisher), { minLength: 1, maxLength: 20 }), (list) => {
        const envelopes: Envelope[] = list.map(([node, n, key, bytes, from], i) =>
          i % 3 === 0
            ? { kind: KIND.PUBLISH, node, seq: n, key, msg: Buffer.from(bytes), budget: -1, publisher: from }
            : i % 3 === 1
              ? { kind: KIND.PUBLISH, node, seq: n, key, msg: Buffer.from(bytes), budget: ['B', 2, 'C', 1], publisher: from }
              : { kind: KIND.SNAPSHOT, node, seq: n, ctlSeq: 3, keys: [key, 'CH:y'], part: 0 },
        );
        const encoded = envelopes.map(encodeEnvelope);
        for (const bytes of encoded) assert.ok(envelopeShapeOk(bytes));
        assert.ok(envelopeShapeOk(bundleEnvelopes(encoded)));
        assert.deepEqual(decodeMessage(bundleEnvelopes(encoded)), { seq: -1, envelopes });
        // With the outbox's sequence header in front (one more list, no deeper).
        const sequenced = bundleEnvelopes(encoded, list[0]![1]);
        assert.ok(envelopeShapeOk(sequenced));
        assert.deepEqual(decodeMessage(sequenced), { seq: list[0]![1], envelopes });
      }),
      { numRuns: 200 },
    );
  });
});
