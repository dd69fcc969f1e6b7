// The write-behind queue on its own: one commit per turn, one commit in flight, the pending-bytes bound (names kept,
// values read again from their owners), failed commits retried with what came since, writes after close dropped.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Batch } from '../../src/store/batch.js';
import { WriteBehind, type BatchCommitter } from '../../src/store/write-behind.js';
import { MemoryStore, MemoryVolume } from '../../src/store/memory-store.js';
import { historyLog, type LogEntry, type LogMeta, type RetainedValue } from '../../src/store/types.js';
import { waitFor } from '../kit/wait.js';

/** Commits when told to (or fails when told to), keeping every batch. */
class GatedCommitter implements BatchCommitter {
  readonly batches: Batch[] = [];
  private waiting: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  failNext = 0;
  /** Resolve commits at once. */
  open = false;

  commit(batch: Batch): Promise<void> {
    this.batches.push(batch);
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.reject(new Error('disk full'));
    }
    if (this.open) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  get pending(): number {
    return this.waiting.length;
  }

  release(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w.resolve();
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const value = (text: string): RetainedValue => ({ msg: Buffer.from(text), owner: null });

describe('write-behind', () => {
  it('commits each turn in one batch and never has two commits in flight', async () => {
    const committer = new GatedCommitter();
    const wb = new WriteBehind(committer, 'test');
    for (let i = 0; i < 10; i++) wb.putRetained(`CH:${i}$`, value('x'));
    assert.equal(committer.batches.length, 0, 'nothing is written inside the turn that made the writes');
    await turn();
    assert.equal(committer.batches.length, 1);
    assert.equal(committer.batches[0]!.retained.size, 10);
    // Three more turns while the first commit is in flight: they become one batch.
    for (let t = 0; t < 3; t++) {
      wb.putRetained(`CH:t${t}$`, value('y'));
      await turn();
    }
    assert.equal(committer.batches.length, 1, 'one commit in flight at a time');
    committer.release();
    await waitFor(() => committer.batches.length === 2, 2000, 'the second batch');
    assert.equal(committer.batches[1]!.retained.size, 3);
    committer.open = true;
    committer.release();
    await wb.flush();
    assert.equal(wb.counters.commits, 2);
    assert.equal(wb.counters.writes, 13);
  });

  it('past the pending bound keeps names only, and writes the owners\' current values once it catches up', async () => {
    const committer = new GatedCommitter();
    const owner = new Map<string, RetainedValue>();
    const history: LogEntry[] = [];
    const log = historyLog('CH:fast');
    const wb = new WriteBehind(committer, 'test', { maxPendingBytes: 4096 });
    wb.setSource({
      retained: (key) => owner.get(key),
      log: (name, from) => (name === log ? { meta: { epoch: 'E', top: history.length, first: 1 }, entries: history.filter((e) => e.offset >= from) } : undefined),
    });
    const put = (key: string, text: string): void => {
      owner.set(key, value(text));
      wb.putRetained(key, owner.get(key)!);
    };
    put('CH:first$', 'a'.repeat(100));
    await turn(); // the first commit hangs: the disk "falls behind"
    for (let i = 0; i < 200; i++) {
      put(`CH:k${i}$`, `v${i}-${'x'.repeat(100)}`);
      const e = { offset: i + 1, time: i, data: Buffer.alloc(50, i) };
      history.push(e);
      wb.putLogEntry(log, e);
      wb.putLogMeta(log, { epoch: 'E', top: e.offset, first: 1 } satisfies LogMeta);
    }
    // Values stay within the bound; the one log meta queued before the log was deferred may pass it by its size.
    assert.ok(wb.pendingBytes <= 4096 + 128, `pending ${wb.pendingBytes} within the bound`);
    assert.ok(wb.deferredKeys > 100, 'the rest is remembered by name');
    // Values change while deferred: the store must end with the latest, and deletes are honoured.
    put('CH:k150$', 'latest');
    owner.delete('CH:k199$');
    wb.deleteRetained('CH:k199$');
    assert.ok(wb.flushLagMs() >= 0);
    committer.open = true;
    committer.release();
    await wb.flush();
    assert.equal(wb.deferredKeys, 0);
    const volume = new MemoryVolume();
    const replay = new MemoryStore({ volume });
    // Apply what was committed, in order, to a memory store to see the end state.
    for (const batch of committer.batches) await (replay as unknown as { commit(b: Batch): Promise<void> }).commit(batch);
    const got = new Map<string, string>();
    await replay.load({ retained: (k, v) => got.set(k, v.msg.toString()) });
    assert.equal(got.size, 200, 'first + k0…k198');
    assert.equal(got.get('CH:k150$'), 'latest');
    assert.equal(got.has('CH:k199$'), false);
    for (let i = 0; i < 199; i++) if (i !== 150) assert.equal(got.get(`CH:k${i}$`), `v${i}-${'x'.repeat(100)}`);
    const entries = await replay.readLog(log, 0, 1000);
    assert.deepEqual(entries.map((e) => e.offset), history.map((e) => e.offset), 'every entry, in order, no hole');
    assert.equal((await replay.getLogMeta(log))?.top, 200);
  });

  it('without an owner to ask, a write past the bound is dropped and counted', async () => {
    const committer = new GatedCommitter();
    const lines: string[] = [];
    const wb = new WriteBehind(committer, 'test', { maxPendingBytes: 1024, log: (l) => lines.push(l) });
    wb.putRetained('CH:a$', value('a'.repeat(900)));
    wb.putRetained('CH:b$', value('b'.repeat(900)));
    assert.equal(wb.counters.droppedWrites, 1);
    assert.match(lines[0] ?? '', /writes dropped \(1 so far\)/);
    committer.open = true;
    committer.release();
    await wb.flush();
  });

  it('retries a failed commit with the writes made since merged after it', async () => {
    const committer = new GatedCommitter();
    committer.open = true;
    committer.failNext = 1;
    const lines: string[] = [];
    const wb = new WriteBehind(committer, 'test', { log: (l) => lines.push(l) });
    wb.putRetained('CH:a$', value('1'));
    wb.putCidRetained('D1', '$x', value('x'));
    await turn();
    await waitFor(() => wb.counters.commitErrors === 1, 2000, 'the failed commit');
    wb.putRetained('CH:a$', value('2'));
    wb.deleteCidRetained('D1');
    await waitFor(() => wb.counters.commits === 1, 5000, 'the retry');
    const last = committer.batches[committer.batches.length - 1]!;
    assert.equal(last.retained.get('CH:a$')?.msg.toString(), '2');
    assert.ok(last.cidDrops.has('D1'));
    assert.equal(last.cidRetained.size, 0, 'the drop came after the put');
    assert.match(lines.join('\n'), /commit failed \(disk full\); retrying/);
    assert.match(lines.join('\n'), /writing again after 1 failed commit/);
  });

  it('flush rejects while commits fail, and the writes stay queued', async () => {
    const committer = new GatedCommitter();
    committer.open = true;
    committer.failNext = 2;
    const wb = new WriteBehind(committer, 'test');
    wb.putRetained('CH:a$', value('1'));
    await assert.rejects(wb.flush(), /disk full/);
    assert.equal(wb.pendingWrites, 1);
    await assert.rejects(wb.flush(), /disk full/);
    await wb.flush();
    assert.equal(wb.pendingWrites, 0);
    assert.equal(wb.counters.commits, 1);
  });
});
