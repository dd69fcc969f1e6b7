// The rules every durable store keeps, run on each of them (stores.test.ts): memory, LMDB and Redis. A harness
// says how to open a store on the same data again, how to damage a record, and what a crash means for it.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { BufferedStore } from '../../src/store/buffered-store.js';
import { CorruptRecordError } from '../../src/store/codec.js';
import { historyLog, sessionLog, type LogEntry, type LogMeta, type RetainedValue, type StoreVisitor } from '../../src/store/types.js';

export interface StoreHarness {
  /** Opens the store on the harness's data (again). */
  open(): Promise<BufferedStore>;
  /** Empties the data (before each rule). */
  reset(): Promise<void>;
  /** Writes bytes that are no retained record under `key`, behind the store's back. */
  damageRetained(key: string): Promise<void>;
  /** Whether reopening after a crash reports an unclean shutdown (Redis: only when Redis itself restarted). */
  crashIsUnclean: boolean;
}

export interface Loaded {
  retained: Map<string, RetainedValue>;
  cid: Map<string, RetainedValue>;
  sessions: Map<string, unknown>;
  logs: Map<string, { meta: LogMeta | undefined; entries: LogEntry[] }>;
}

export async function loadAll(store: { load(v: StoreVisitor): Promise<void> }): Promise<Loaded> {
  const out: Loaded = { retained: new Map(), cid: new Map(), sessions: new Map(), logs: new Map() };
  await store.load({
    retained: (k, v) => out.retained.set(k, v),
    cidRetained: (c, t, v) => out.cid.set(`${c}@${t}`, v),
    session: (id, data) => out.sessions.set(id, data),
    log: (log, meta, entries) => out.logs.set(log, { meta, entries }),
  });
  return out;
}

const value = (text: string, owner: string | null = 'a:127.0.0.1'): RetainedValue => ({ msg: Buffer.from(text), owner });
const entry = (offset: number, text = `m${offset}`): LogEntry => ({ offset, time: 1_700_000_000_000 + offset, data: Buffer.from(text) });
const texts = (entries: readonly LogEntry[]): string[] => entries.map((e) => `${e.offset}:${e.data.toString()}`);

export function storeRules(name: string, harness: StoreHarness, skip: string | false = false): void {
  describe(`durable store rules: ${name}`, { skip }, () => {
    let store: BufferedStore | null = null;

    beforeEach(async () => {
      await harness.reset();
      store = await harness.open();
    });

    afterEach(async () => {
      await store?.close();
      store = null;
    });

    const reopen = async (how: 'close' | 'crash'): Promise<BufferedStore> => {
      if (how === 'close') await store!.close();
      else await store!.crash();
      store = await harness.open();
      return store;
    };

    it('takes writes without waiting and commits one turn as one transaction', async () => {
      const s = store!;
      const before = s.stats().commits;
      for (let i = 0; i < 100; i++) s.putRetained(`CH:k${i}$`, value(`v${i}`));
      for (let o = 1; o <= 50; o++) s.putLogEntry(historyLog('CH:news'), entry(o));
      s.putLogMeta(historyLog('CH:news'), { epoch: 'E1', top: 50, first: 1 });
      assert.equal(s.stats().pendingWrites, 151, 'handed over, not written yet');
      assert.ok(s.stats().flushLagSeconds >= 0);
      await s.flush();
      const stats = s.stats();
      assert.equal(stats.commits - before, 1);
      assert.equal(stats.pendingWrites, 0);
      assert.equal(stats.flushLagSeconds, 0);
      assert.ok(stats.writes >= 151);
      const loaded = await loadAll(s);
      assert.equal(loaded.retained.size, 100);
      assert.equal(loaded.retained.get('CH:k7$')!.msg.toString(), 'v7');
      assert.equal(loaded.logs.get(historyLog('CH:news'))!.entries.length, 50);
    });

    it('reads everything back after a clean close', async () => {
      const s = store!;
      s.putRetained('CH:temp$', value('21.5'));
      s.putRetained('CH:srv$', value('by the server', null));
      s.putCidRetained('D1', '$state', value('on', 'd:esp32'));
      s.putSession('client-1', { expiry: 3600, subscriptions: [{ filter: 'a/#', qos: 1 }], blob: Buffer.from([1, 2, 3]) });
      s.putLogEntry(sessionLog('client-1'), entry(1, 'queued'));
      s.putLogEntry(historyLog('CH:chat'), entry(1));
      s.putLogMeta(historyLog('CH:chat'), { epoch: 'E', top: 1, first: 1 });
      const reopened = await reopen('close');
      assert.equal(reopened.opened.cleanShutdown, true);
      assert.equal(reopened.opened.created, false);
      const loaded = await loadAll(reopened);
      assert.deepEqual(loaded.retained.get('CH:temp$'), value('21.5'));
      assert.deepEqual(loaded.retained.get('CH:srv$'), value('by the server', null));
      assert.deepEqual(loaded.cid.get('D1@$state'), value('on', 'd:esp32'));
      assert.deepEqual(loaded.sessions.get('client-1'), { expiry: 3600, subscriptions: [{ filter: 'a/#', qos: 1 }], blob: Buffer.from([1, 2, 3]) });
      assert.deepEqual(texts(loaded.logs.get(sessionLog('client-1'))!.entries), ['1:queued']);
      assert.deepEqual(loaded.logs.get(historyLog('CH:chat'))!.meta, { epoch: 'E', top: 1, first: 1 });
      assert.deepEqual(await reopened.getRetained('CH:temp$'), value('21.5'));
      assert.deepEqual(await reopened.getCidRetained('D1', '$state'), value('on', 'd:esp32'));
      assert.equal(await reopened.getRetained('CH:none$'), undefined);
      assert.deepEqual((await reopened.getSession('client-1'))?.['expiry'], 3600);
    });

    it('after a crash keeps what was committed, and nothing of what was not', async () => {
      const s = store!;
      s.putRetained('CH:a$', value('committed'));
      s.putLogEntry(historyLog('CH:h'), entry(1));
      s.putLogMeta(historyLog('CH:h'), { epoch: 'E', top: 1, first: 1 });
      await s.flush();
      s.putRetained('CH:a$', value('lost'));
      s.putRetained('CH:b$', value('lost too'));
      s.putLogEntry(historyLog('CH:h'), entry(2));
      s.putLogMeta(historyLog('CH:h'), { epoch: 'E', top: 2, first: 1 });
      const reopened = await reopen('crash');
      assert.equal(reopened.opened.cleanShutdown, !harness.crashIsUnclean);
      const loaded = await loadAll(reopened);
      assert.deepEqual(loaded.retained.get('CH:a$'), value('committed'));
      assert.equal(loaded.retained.has('CH:b$'), false);
      assert.deepEqual(texts(loaded.logs.get(historyLog('CH:h'))!.entries), ['1:m1']);
      assert.equal(loaded.logs.get(historyLog('CH:h'))!.meta!.top, 1);
    });

    it('coalesces a turn: the last write of a key wins, deletes and whole-CID drops keep their order', async () => {
      const s = store!;
      s.putRetained('CH:x$', value('old'));
      s.putCidRetained('D2', '$gone', value('g'));
      await s.flush();
      const commits = s.stats().commits;
      for (let i = 0; i < 1000; i++) s.putRetained('CH:k$', value(`v${i}`));
      s.deleteRetained('CH:x$');
      s.putCidRetained('D1', '$a', value('a'));
      s.deleteCidRetained('D1');
      s.putCidRetained('D1', '$b', value('b'));
      s.deleteCidRetained('D2', '$gone');
      await s.flush();
      assert.equal(s.stats().commits - commits, 1);
      const loaded = await loadAll(s);
      assert.deepEqual(loaded.retained.get('CH:k$'), value('v999'));
      assert.equal(loaded.retained.has('CH:x$'), false);
      assert.deepEqual([...loaded.cid.keys()].sort(), ['D1@$b']);
      // A drop in a later turn takes what earlier turns wrote.
      s.deleteCidRetained('D1');
      await s.flush();
      assert.equal((await loadAll(s)).cid.size, 0);
    });

    it('keeps logs: entries in order, ranges, trims, removals, drops; a queue entry may change in place', async () => {
      const s = store!;
      const h = historyLog('CH:chat');
      const q = sessionLog('dev-7');
      for (let o = 1; o <= 10; o++) {
        s.putLogEntry(h, entry(o));
        s.putLogEntry(q, entry(o, `q${o}`));
      }
      await s.flush();
      s.trimLog(h, 4);
      s.removeLogEntry(q, 2);
      s.putLogEntry(q, entry(3, 'q3-in-flight'));
      s.trimLog(q, 2);
      await s.flush();
      assert.deepEqual(texts(await s.readLog(h, 0, 100)), ['4:m4', '5:m5', '6:m6', '7:m7', '8:m8', '9:m9', '10:m10']);
      assert.deepEqual(texts(await s.readLog(h, 6, 2)), ['6:m6', '7:m7']);
      assert.deepEqual(texts(await s.readLog(q, 0, 100)).slice(0, 2), ['3:q3-in-flight', '4:q4']);
      assert.equal((await s.readLog(q, 0, 100)).length, 8);
      s.putLogEntry(h, entry(11));
      s.trimLog(h, 9); // in the same turn as the append: 11 stays, 4..8 go
      await s.flush();
      assert.deepEqual(texts(await s.readLog(h, 0, 100)), ['9:m9', '10:m10', '11:m11']);
      s.dropLog(h);
      s.putLogEntry(h, entry(1, 'new epoch'));
      await s.flush();
      assert.deepEqual(texts(await s.readLog(h, 0, 100)), ['1:new epoch']);
      s.deleteSession('dev-7');
      await s.flush();
      assert.deepEqual(await s.readLog(q, 0, 100), []);
    });

    it('tells which logs a commit made durable, with the meta it wrote', async () => {
      const s = store!;
      const seen: Array<[string, number]> = [];
      s.onDurable((metas) => {
        for (const [log, meta] of metas) seen.push([log, meta.top]);
      });
      s.putLogEntry(historyLog('CH:a'), entry(1));
      s.putLogMeta(historyLog('CH:a'), { epoch: 'E', top: 1, first: 1 });
      s.putLogEntry(sessionLog('c'), entry(1));
      assert.deepEqual(seen, []);
      await s.flush();
      assert.deepEqual(seen, [[historyLog('CH:a'), 1]]);
    });

    it('lists retained keys and logs in pages that together hold every one', async () => {
      const s = store!;
      for (let i = 0; i < 25; i++) s.putRetained(`CH:room/${String(i).padStart(2, '0')}$`, value('x'));
      s.putRetained('CH:other$', value('y'));
      for (let i = 0; i < 5; i++) s.putLogMeta(historyLog(`CH:h${i}`), { epoch: 'E', top: 0, first: 1 });
      await s.flush();
      const seen = new Set<string>();
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await s.listRetained('CH:room/', cursor, 10);
        for (const key of page.keys) seen.add(key);
        cursor = page.next;
        pages++;
      } while (cursor !== null && pages < 100);
      assert.equal(seen.size, 25);
      assert.ok([...seen].every((k) => k.startsWith('CH:room/')));
      const logs = await s.listLogs('h:', null, 100);
      assert.deepEqual([...logs.keys].sort(), [0, 1, 2, 3, 4].map((i) => historyLog(`CH:h${i}`)));
    });

    it('reports a damaged record by table and key instead of reading it as empty', async () => {
      store!.putRetained('CH:good$', value('fine'));
      await store!.close();
      store = null;
      await harness.damageRetained('CH:bad$');
      store = await harness.open();
      await assert.rejects(loadAll(store), (err: unknown) => err instanceof CorruptRecordError && /retained record "CH:bad\$"/.test(err.message));
    });

    it('drops writes after close and counts them', async () => {
      const s = store!;
      await s.close();
      s.putRetained('CH:late$', value('late'));
      assert.equal(s.stats().droppedWrites, 1);
      store = await harness.open();
      assert.equal(await store.getRetained('CH:late$'), undefined);
    });
  });
}
