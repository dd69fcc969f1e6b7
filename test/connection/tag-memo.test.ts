// A connection's memo of its last SIGNAL tag must answer exactly like signalTag, whatever comes next.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TagMemo } from '../../src/connection/tag-memo.js';
import { encodeSignal, signalTag } from '../../src/protocol/messages.js';

describe('TagMemo', () => {
  it('hands back the same string for a repeated tag and a new one for a changed tag', () => {
    const memo = new TagMemo();
    const first = memo.read(encodeSignal('room', 0, Buffer.from('x')));
    assert.equal(first, 'room');
    assert.equal(memo.read(encodeSignal('room', 0, Buffer.from('other payload'))), first);
    assert.equal(memo.read(encodeSignal('roo', 0)), 'roo');
    assert.equal(memo.read(encodeSignal('room', 0)), 'room');
    assert.equal(memo.read(encodeSignal('rooM', 0)), 'rooM');
  });

  it('refuses what signalTag refuses, without forgetting the last good tag', () => {
    const memo = new TagMemo();
    assert.equal(memo.read(encodeSignal('a', 0)), 'a');
    assert.equal(memo.read(Uint8Array.of(0xd0, 1, 0x61)), null, 'no payloadType byte');
    assert.equal(memo.read(Uint8Array.of(0xd0, 2, 0xc3, 0x28, 0)), null, 'invalid UTF-8');
    assert.equal(memo.read(encodeSignal('a', 0)), 'a');
  });

  it('agrees with signalTag on any sequence of messages', () => {
    const message = fc.oneof(
      fc.constantFrom('a', 'ab', 'room', '#home', 'x@y').map((tag) => encodeSignal(tag, 0, Buffer.from('p'))),
      fc.uint8Array({ minLength: 0, maxLength: 12 }).map((bytes) => Uint8Array.of(0xd0, ...bytes)),
    );
    fc.assert(
      fc.property(fc.array(message, { maxLength: 20 }), (messages) => {
        const memo = new TagMemo();
        for (const msg of messages) assert.equal(memo.read(msg), signalTag(msg));
      }),
    );
  });
});
