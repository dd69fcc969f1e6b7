// The packed channel-retained table (src/router/retained-table.ts) against a plain Map doing the same, through
// growth, replacement, deletion, compaction and slab reuse; values handed out are never written over.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PAYLOAD } from '../../src/protocol/codes.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import { RetainedTable } from '../../src/router/retained-table.js';

/** A deterministic generator, so a failure replays. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const bytes = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);

describe('RetainedTable', () => {
  it('keeps, replaces and deletes like a Map, with each value’s writer and origin', () => {
    const table = new RetainedTable();
    assert.equal(table.get('CH:a$'), undefined);
    assert.equal(table.delete('CH:a$'), false);
    const loc = table.set('CH:a$', bytes(3, 1), 'd:dev', 'C1');
    assert.deepEqual(table.get('CH:a$'), bytes(3, 1));
    assert.equal(table.ownerAt(loc), 'd:dev');
    assert.equal(table.publisherAt(loc), 'C1');
    assert.equal(table.remoteAt(loc), false);
    const again = table.set('CH:a$', bytes(0, 0), null, null, true);
    assert.notEqual(table.stampAt(again), table.stampAt(loc), 'a rewritten value has a new stamp');
    assert.deepEqual(table.get('CH:a$'), Buffer.alloc(0));
    assert.equal(table.ownerAt(again), null);
    assert.equal(table.publisherAt(again), null, 'null (the server) is not the unknown publisher ""');
    assert.equal(table.remoteAt(again), true);
    const restored = table.set('CH:b$', bytes(2, 2), null, '');
    assert.equal(table.publisherAt(restored), '');
    assert.equal(table.size, 2);
    assert.equal(table.delete('CH:a$'), true);
    assert.equal(table.has('CH:a$'), false);
    assert.deepEqual([...table.keys()], ['CH:b$']);
  });

  it('stores keys in any script, and refuses a key over 64 KiB', () => {
    const table = new RetainedTable();
    for (const key of ['CH:température$', 'CH:温度$', 'CH:😀$', 'CH:e\u0301$', 'CH:é$']) table.set(key, Buffer.from(key), null, '');
    for (const key of ['CH:température$', 'CH:温度$', 'CH:😀$', 'CH:e\u0301$', 'CH:é$']) assert.equal(table.get(key)?.toString(), key);
    assert.equal(table.get('CH:temperature$'), undefined);
    assert.equal(table.set('CH:' + 'x'.repeat(70_000), bytes(1, 1), null, ''), -1);
    assert.equal(table.size, 5);
  });

  it('keeps a key that is `CH:` + the signal’s own tag once, and any other key beside its message', () => {
    const table = new RetainedTable();
    const own = encodeSignal('room/1$', PAYLOAD.TEXT, Buffer.from('21.5'));
    const other = encodeSignal('room/2$', PAYLOAD.TEXT, Buffer.from('x'));
    table.set('CH:room/1$', own, null, '');
    const withKey = table.footprint;
    table.set('CH:room/3$', other, null, ''); // not its tag: the key is kept beside it
    table.set('PRIVATE:#room/1$', own, null, '');
    table.set('CH:room/1', own, null, ''); // a prefix of the tag
    table.set('CH:', Buffer.from([1]), null, ''); // too short to carry a tag
    assert.equal(withKey, table.footprint, 'one slab so far');
    assert.deepEqual([...table.keys()].sort(), ['CH:', 'CH:room/1', 'CH:room/1$', 'CH:room/3$', 'PRIVATE:#room/1$']);
    for (const key of ['CH:room/1$', 'PRIVATE:#room/1$', 'CH:room/1']) assert.deepEqual(table.get(key), own);
    assert.deepEqual(table.get('CH:room/3$'), other);
    assert.equal(table.get('CH:room/2$'), undefined, 'the message’s tag is not a key by itself');
    assert.equal(table.get('CH:room/1$x'), undefined);
  });

  it('matches a Map through 200 000 random writes (growth, compaction, slab reuse, large values)', () => {
    const next = random(20);
    const table = new RetainedTable();
    const model = new Map<string, Buffer>();
    const handedOut: Array<[Buffer, Buffer]> = [];
    for (let i = 0; i < 200_000; i++) {
      const key = `CH:s/${Math.floor(next() * 5000)}$`;
      const r = next();
      if (r < 0.15) {
        assert.equal(table.delete(key), model.delete(key));
        continue;
      }
      const size = r > 0.9995 ? 1_500_000 : Math.floor(next() * 300);
      // Half of them signals whose tag the key is (the key is not stored twice), the rest opaque bytes.
      const value = r < 0.55 ? encodeSignal(key.slice(3), PAYLOAD.BINARY, bytes(size, i & 0xff)) : bytes(size, i & 0xff);
      const loc = table.set(key, value, i % 3 === 0 ? null : `d:${i % 7}`, `C${i % 11}`);
      model.set(key, value);
      if (i % 1000 === 0) handedOut.push([table.messageAt(loc), Buffer.from(value)]);
    }
    assert.equal(table.size, model.size);
    for (const [key, value] of model) assert.ok(table.get(key)?.equals(value), key);
    const seen = new Map<string, Buffer>();
    for (const [key, msg] of table) {
      assert.ok(!seen.has(key), `${key} once`);
      seen.set(key, msg);
    }
    assert.equal(seen.size, model.size);
    for (const [view, copy] of handedOut) assert.ok(view.equals(copy), 'a value handed out is never written over');
    // Garbage is bounded: the slabs hold at most about twice the live bytes (plus the tail and one slab).
    let live = 0;
    for (const [key, value] of model) live += 11 + key.length + value.length + 3;
    assert.ok(table.footprint < 2 * live + 4 * 1024 * 1024 + 8 * 1024 * 1024, `footprint ${table.footprint} for ${live} live bytes`);
  });

  it('iterates every live value once even when written between steps', () => {
    const table = new RetainedTable();
    for (let i = 0; i < 2000; i++) table.set(`CH:k${i}$`, bytes(100, 1), null, '');
    const seen = new Set<string>();
    let step = 0;
    for (const { key, msg } of table.records()) {
      assert.ok(!seen.has(key), `${key} once`);
      seen.add(key);
      assert.ok(msg.equals(table.get(key)!), `${key}: its current value`);
      // Writes between steps: replacements, deletions and new keys (a resize included).
      if (step++ % 10 === 0) {
        table.set(`CH:k${step}$`, bytes(50, 2), null, '');
        table.delete(`CH:k${step + 1}$`);
        table.set(`CH:new${step}$`, bytes(10, 3), null, '');
      }
    }
    for (let i = 0; i < 2000; i++) if (table.has(`CH:k${i}$`) && !seen.has(`CH:k${i}$`)) assert.fail(`CH:k${i}$ missed`);
  });
});
