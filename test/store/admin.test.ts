// The admin building blocks on durable state: listing and reading retained keys (what was handed over before the
// call included), clearing through the live owner, histories listed, read and cleared, and the metric series.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSignal } from '../../src/protocol/messages.js';
import { PAYLOAD } from '../../src/protocol/codes.js';
import { ChannelHistory } from '../../src/history/channel-history.js';
import { HistoryPolicy } from '../../src/history/policy.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { clearHistory, clearRetained, durabilityFigures, durabilitySeries, listHistory, listRetained, readHistory, readRetained, type AdminTarget } from '../../src/store/admin.js';

const text = (tag: string, value: string): Buffer => encodeSignal(tag, PAYLOAD.TEXT, Buffer.from(`${value}\0`));

describe('admin on durable state', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iosig-admin-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('lists, reads and clears retained keys and histories', async () => {
    const store = LmdbStore.open(dir);
    const history = new ChannelHistory({ policy: HistoryPolicy.parse(['chat/#=3']), store });
    // The router's part, as the wiring will do it: its table is the truth, the store follows.
    const table = new Map<string, Buffer>();
    const target: AdminTarget = {
      store,
      history,
      clearRetained: (key) => {
        if (!table.delete(key)) return false;
        store.deleteRetained(key);
        return true;
      },
    };
    for (let i = 0; i < 5; i++) {
      const key = `CH:room/${i}$`;
      table.set(key, text(`room/${i}$`, `t${i}`));
      store.putRetained(key, { msg: table.get(key)!, owner: i === 0 ? 'd:esp32' : null });
    }
    // Listed without a flush by the caller: the admin call flushes first.
    const first = await listRetained(target, { prefix: 'CH:room/', limit: 3 });
    assert.deepEqual(first.items, ['CH:room/0$', 'CH:room/1$', 'CH:room/2$']);
    const second = await listRetained(target, { prefix: 'CH:room/', cursor: first.next, limit: 3 });
    assert.deepEqual(second, { items: ['CH:room/3$', 'CH:room/4$'], next: null });
    assert.deepEqual(await readRetained(target, 'CH:room/0$'), { key: 'CH:room/0$', tag: 'room/0$', payloadType: PAYLOAD.TEXT, bytes: table.get('CH:room/0$')!.length, owner: 'd:esp32', preview: 't0' });
    assert.equal(await readRetained(target, 'CH:none$'), null);
    assert.equal(clearRetained(target, ['CH:room/1$', 'CH:nothing$']), 1);
    assert.deepEqual((await listRetained(target, { prefix: 'CH:room/' })).items, ['CH:room/0$', 'CH:room/2$', 'CH:room/3$', 'CH:room/4$']);

    for (let i = 1; i <= 5; i++) history.append('CH:chat/a', text('chat/a', `m${i}`));
    history.append('CH:chat/b', text('chat/b', 'only'));
    await store.flush();
    assert.deepEqual(listHistory(target).items.map((h) => [h.key, h.offset]), [
      ['CH:chat/a', 5],
      ['CH:chat/b', 1],
    ]);
    const read = readHistory(target, 'CH:chat/a')!;
    assert.deepEqual(read.entries.map((e) => [e.offset, e.preview]), [
      [3, 'm3'],
      [4, 'm4'],
      [5, 'm5'],
    ], 'from the oldest kept entry when asked from before it');
    assert.deepEqual(readHistory(target, 'CH:chat/a', 4)!.entries.map((e) => e.offset), [5]);
    const epoch = read.epoch;
    assert.equal(clearHistory(target, 'CH:chat/a'), true);
    assert.equal(readHistory(target, 'CH:chat/a'), null);
    history.append('CH:chat/a', text('chat/a', 'after'));
    await store.flush();
    assert.notEqual(history.position('CH:chat/a')!.epoch, epoch, 'a cleared history starts a new epoch');

    const series = durabilitySeries(durabilityFigures(store, history));
    const value = (name: string): number | undefined => series.find((s) => s.name === name)?.value;
    assert.ok(value('iosig_store_size_bytes')! > 0);
    assert.ok(value('iosig_store_writes_total')! >= 12);
    assert.ok(value('iosig_store_commits_total')! >= 1);
    assert.equal(value('iosig_store_flush_lag_seconds'), 0);
    assert.equal(value('iosig_history_channels'), 2);
    assert.equal(value('iosig_history_entries'), 2);
    await store.close();
  });
});
