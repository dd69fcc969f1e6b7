// Opening a store that cannot be used: damaged, foreign, from a newer or an older format, in use by another
// process, in a place that cannot be created; and a record that cannot be read back. Each stops with the file,
// the reason and the way out, and changes nothing. Plus the durability flags.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { encodeFormat, FORMAT_VERSION } from '../../src/store/codec.js';
import { StoreOpenError } from '../../src/store/format.js';
import { LmdbStore, LOCK_FILE, STORE_FILE, writeLockFor } from '../../src/store/lmdb-store.js';
import { loadOrExplain, openStore, resolveDurability } from '../../src/store/open.js';

describe('opening a store', () => {
  const root = mkdtempSync(join(tmpdir(), 'iosig-open-'));
  let n = 0;
  const fresh = (): string => join(root, `s${++n}`);
  after(() => rmSync(root, { recursive: true, force: true }));

  const refused = (fn: () => unknown, pattern: RegExp): void => {
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof StoreOpenError, String(err));
      assert.match(err.message, pattern);
      return true;
    });
  };

  it('creates a store, writes its format record, and reads it back as cleanly closed', async () => {
    const dir = fresh();
    const store = LmdbStore.open(dir, { version: '9.9.9' });
    assert.deepEqual(store.opened, { cleanShutdown: true, created: true, format: FORMAT_VERSION, writtenBy: '9.9.9' });
    assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), String(process.pid));
    await store.close();
    assert.equal(existsSync(join(dir, LOCK_FILE)), false, 'the lock goes with a clean close');
    const again = LmdbStore.open(dir, { version: '9.9.10' });
    assert.deepEqual(again.opened, { cleanShutdown: true, created: false, format: FORMAT_VERSION, writtenBy: '9.9.9' });
    await again.close();
  });

  it('a file that is not LMDB: refused with the file and "move it aside", left as it was', () => {
    const dir = fresh();
    mkdirSync(dir);
    writeFileSync(join(dir, STORE_FILE), Buffer.alloc(20_000, 0x41));
    refused(() => LmdbStore.open(dir), new RegExp(`store ${join(dir, STORE_FILE).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: meta page 0 has no LMDB signature: not an LMDB store, or damaged[\\s\\S]*move it aside[\\s\\S]*mv '${dir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}'`));
    assert.equal(statSync(join(dir, STORE_FILE)).size, 20_000, 'never emptied');
    assert.equal(existsSync(join(dir, LOCK_FILE)), false, 'the lock is given back');
  });

  it('a truncated store file is refused, never read as empty', async () => {
    const dir = fresh();
    const store = LmdbStore.open(dir);
    for (let i = 0; i < 2000; i++) store.putRetained(`CH:k${i}$`, { msg: Buffer.alloc(200, i), owner: null });
    await store.close();
    const damaged = fresh();
    mkdirSync(damaged);
    copyFileSync(join(dir, STORE_FILE), join(damaged, STORE_FILE));
    truncateSync(join(damaged, STORE_FILE), 8192);
    let error: unknown = null;
    try {
      const s = LmdbStore.open(damaged);
      let count = 0;
      await loadOrExplain(s, { retained: () => count++ });
      error = new Error(`opened and read ${count} records`);
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof StoreOpenError, String(error));
    assert.match(error.message, /move it aside/);
  });

  it('an LMDB store of another program (data, no iosig format record) is refused', async () => {
    const dir = fresh();
    mkdirSync(dir);
    const env = open({ path: join(dir, STORE_FILE), noSubdir: true, maxDbs: 8 });
    await env.openDB({ name: 'retained', encoding: 'binary' }).put('x', Buffer.from([1, 0xff, 0xff]));
    await env.close();
    refused(() => LmdbStore.open(dir), /holds data but no iosig format record: it is not an iosig store/);
  });

  const withFormat = async (format: number): Promise<string> => {
    const dir = fresh();
    await LmdbStore.open(dir, { version: 'old' }).close();
    const env = open({ path: join(dir, STORE_FILE), noSubdir: true, maxDbs: 8 });
    await env.openDB({ name: 'meta', encoding: 'binary' }).put('format', encodeFormat({ format, writtenBy: '7.0.0', state: 'clean', created: 1 }));
    await env.close();
    return dir;
  };

  it('a store of a newer format is refused: run the newer iosig, or move it aside', async () => {
    const dir = await withFormat(FORMAT_VERSION + 1);
    refused(() => LmdbStore.open(dir, { version: '0.1.0' }), new RegExp(`written by iosig 7\\.0\\.0 in store format ${FORMAT_VERSION + 1}; this iosig \\(0\\.1\\.0\\) reads formats up to ${FORMAT_VERSION}[\\s\\S]*Run the newer iosig, which reads it\\. Nothing was changed`));
  });

  it('a store of an older format this version no longer reads is refused with the version that wrote it', async () => {
    const dir = await withFormat(0);
    refused(() => LmdbStore.open(dir, { version: '0.1.0' }), /written by iosig 7\.0\.0 in store format 0, which this iosig \(0\.1\.0, format 1\) no longer reads[\s\S]*Start iosig 7\.0\.0 on it to get at what it holds\. Nothing was changed/);
  });

  it('one process per data directory: a live holder is named, a dead one is taken over', async () => {
    const dir = fresh();
    mkdirSync(dir);
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writeLockFor(dir, sleeper.pid!);
      refused(() => LmdbStore.open(dir), new RegExp(`in use by process ${sleeper.pid} \\(another io-server with the same --data-dir\\?\\)`));
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((resolve) => sleeper.once('exit', resolve));
    }
    // The holder is gone (as after a crash): its lock is taken over.
    const store = LmdbStore.open(dir);
    assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), String(process.pid));
    await store.close();
  });

  it('a data directory that cannot be created is named', () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    refused(() => LmdbStore.open(join(file, 'data')), /the data directory cannot be created/);
  });

  it('a record that cannot be read back stops the start with the way out', async () => {
    const dir = fresh();
    const store = LmdbStore.open(dir);
    store.putRetained('CH:ok$', { msg: Buffer.from('fine'), owner: null });
    await store.close();
    const env = open({ path: join(dir, STORE_FILE), noSubdir: true, maxDbs: 8 });
    await env.openDB({ name: 'logMeta', encoding: 'binary' }).put('h:CH:x', Buffer.from([0xc1]));
    await env.close();
    const again = LmdbStore.open(dir);
    await assert.rejects(loadOrExplain(again, { retained: () => {}, log: () => {} }), (err: unknown) => {
      assert.ok(err instanceof StoreOpenError);
      assert.match(err.message, /it cannot be read back: log meta record "h:CH:x": /);
      assert.match(err.message, /mv '/);
      return true;
    });
    await again.close();
  });
});

describe('durability flags', () => {
  it('defaults: nothing kept, 64 MiB pending, no history, 64 MiB of history', () => {
    const d = resolveDurability({});
    assert.equal(d.dataDir, null);
    assert.equal(d.maxPendingBytes, 64 * 1024 * 1024);
    assert.equal(d.history.enabled, false);
    assert.equal(d.historyMaxBytes, 64 * 1024 * 1024);
    assert.equal(resolveDurability({ dataDir: 'off' }).dataDir, null);
    assert.equal(resolveDurability({ dataDir: './data' }).dataDir, './data');
  });

  it('names the flag at fault', () => {
    assert.throws(() => resolveDurability({ dataDir: ' ' }), /--data-dir needs a directory/);
    assert.throws(() => resolveDurability({ storeMaxPending: '64M' }), /--store-max-pending must be a whole number of bytes, got "64M"/);
    assert.throws(() => resolveDurability({ historyMaxBytes: '0' }), /--history-max-bytes must be from 1/);
    assert.throws(() => resolveDurability({ history: ['chat'] }), /--history "chat"/);
  });

  it('opens the store the options name', async () => {
    const memory = await openStore({ dataDir: null, maxPendingBytes: 1024, version: 'x', log: () => {} });
    assert.equal(memory.kind, 'memory');
    memory.putRetained('CH:a$', { msg: Buffer.from('x'), owner: null });
    await memory.flush();
    assert.equal(await memory.getRetained('CH:a$'), undefined, 'without a data directory nothing is kept');
    assert.equal(memory.stats().writes, 1, 'but writes are counted');
    await memory.close();
    const dir = mkdtempSync(join(tmpdir(), 'iosig-open-flags-'));
    try {
      const lmdb = await openStore({ dataDir: dir, maxPendingBytes: 1024, version: 'x', log: () => {} });
      assert.equal(lmdb.kind, 'lmdb');
      await lmdb.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
