// The LMDB store's retained journal (src/store/journal.ts): retained changes are appended to iosig.journal and
// written to LMDB rows at checkpoints. A stop before the checkpoint must lose nothing committed; a torn tail is
// cut off; a record of a batch whose LMDB rows never committed is dropped, so a batch is all there or not at all.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Batch } from '../../src/store/batch.js';
import { appendRaw, encodeRecord, MIXED } from '../../src/store/journal.js';
import { JOURNAL_FILE, LmdbStore } from '../../src/store/lmdb-store.js';
import { waitFor } from '../kit/wait.js';

const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'iosig-journal-'));
  dirs.push(d);
  return d;
}

const value = (text: string): { msg: Buffer; owner: string | null } => ({ msg: Buffer.from(text), owner: 'd:dev' });

/** Writes and waits until they are committed (in the journal), without the flush's checkpoint. */
async function committed(store: LmdbStore, write: () => void): Promise<void> {
  const before = store.stats().commits;
  write();
  await waitFor(() => store.stats().commits > before && store.stats().pendingWrites === 0, 5000, 'the commit');
}

describe('LMDB store: the retained journal', () => {
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a crash before the checkpoint loses nothing committed: the journal is read back into rows at open', async () => {
    const d = dir();
    // No checkpoint on its own during the test, however slow the machine.
    const store = LmdbStore.open(d, { checkpointMs: 3_600_000 });
    await committed(store, () => {
      for (let i = 0; i < 100; i++) store.putRetained(`CH:k${i}$`, value(`v${i}`));
      store.putCidRetained('DEV', '$state', value('on'));
    });
    await committed(store, () => {
      store.deleteRetained('CH:k0$');
      store.putRetained('CH:k1$', value('again'));
    });
    assert.ok(statSync(join(d, JOURNAL_FILE)).size > 0, 'the changes are in the journal, not yet in rows');
    assert.equal((await store.getRetained('CH:k1$'))?.msg.toString(), 'again', 'reads see journaled changes');
    await store.crash();
    const lines: string[] = [];
    const again = LmdbStore.open(d, { log: (line) => lines.push(line) });
    assert.equal(again.opened.cleanShutdown, false);
    assert.equal(statSync(join(d, JOURNAL_FILE)).size, 0, 'written to rows at open');
    const seen = new Map<string, string>();
    await again.load({ retained: (key, v) => seen.set(key, v.msg.toString()), cidRetained: (cid, topic, v) => seen.set(`${cid}@${topic}`, v.msg.toString()) });
    assert.equal(seen.size, 100);
    assert.equal(seen.has('CH:k0$'), false, 'the delete is applied');
    assert.equal(seen.get('CH:k1$'), 'again');
    assert.equal(seen.get('DEV@$state'), 'on');
    await again.close();
  });

  it('a torn tail is cut off at the last whole record, and said', async () => {
    const d = dir();
    const store = LmdbStore.open(d);
    await committed(store, () => store.putRetained('CH:a$', value('1')));
    await store.crash();
    const torn = new Batch();
    torn.setRetained('CH:b$', value('2'), 1);
    appendRaw(join(d, JOURNAL_FILE), encodeRecord(torn, 99, 0).subarray(0, 20));
    const lines: string[] = [];
    const again = LmdbStore.open(d, { log: (line) => lines.push(line) });
    assert.equal((await again.getRetained('CH:a$'))?.msg.toString(), '1');
    assert.equal(await again.getRetained('CH:b$'), undefined);
    assert.ok(lines.some((line) => /not a whole record/.test(line)), lines.join('\n'));
    await again.close();
  });

  it('a record of a mixed batch whose LMDB rows did not commit is dropped (a batch is whole or absent)', async () => {
    const d = dir();
    const store = LmdbStore.open(d);
    await committed(store, () => store.putRetained('CH:a$', value('1')));
    await store.crash();
    // A journal record that says its batch also wrote rows, with no trace of them in LMDB: the stop came between.
    const half = new Batch();
    half.setRetained('CH:a$', value('half'), 1);
    appendRaw(join(d, JOURNAL_FILE), encodeRecord(half, 1e6, MIXED));
    const lines: string[] = [];
    const again = LmdbStore.open(d, { log: (line) => lines.push(line) });
    assert.equal((await again.getRetained('CH:a$'))?.msg.toString(), '1');
    assert.ok(lines.some((line) => /did not commit whole/.test(line)), lines.join('\n'));
    await again.close();
  });

  it('a clean close writes everything to rows and leaves the journal empty', async () => {
    const d = dir();
    const store = LmdbStore.open(d);
    await committed(store, () => store.putRetained('CH:a$', value('1')));
    await store.close();
    assert.equal(statSync(join(d, JOURNAL_FILE)).size, 0);
    const again = LmdbStore.open(d);
    assert.equal(again.opened.cleanShutdown, true);
    assert.equal((await again.getRetained('CH:a$'))?.msg.toString(), '1');
    await again.close();
  });
});
