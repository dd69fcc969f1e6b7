// The -d key store: .json rows, .js/.mjs modules (Q15), hashed keys, reload for SIGHUP, atomic .json writes.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyFromString, storedKeyForm } from '../../src/crypto/keys.js';
import { FileKeyStore } from '../../src/auth/file-store.js';
import { resolveLevel, verifyKeyMaterial } from '../../src/auth/key-store.js';
import { loadVector } from '../kit/vectors.js';
import { ROOT } from '../kit/server.js';

interface ProviderVector {
  input_json: unknown[];
  entries: Record<string, { key: string; cid: string; level: unknown }>;
}

const vector = loadVector<{ providers: { FileKeyProvider: ProviderVector } }>('auth_keys.json').providers.FileKeyProvider;
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'iosig-auth-'));
  dirs.push(dir);
  return dir;
}

function writeJson(path: string, rows: unknown): string {
  writeFileSync(path, JSON.stringify(rows));
  return path;
}

function collect(): { log: (line: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { log: (line) => lines.push(line), lines };
}

const quiet = { log: () => undefined };

describe('FileKeyStore (.json)', () => {
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  it('reproduces the reference entries: keys hashed, levels kept raw', async () => {
    const store = await FileKeyStore.open(writeJson(join(tempDir(), 'keys.json'), vector.input_json), quiet);
    assert.equal(store.kind, 'file');
    for (const [id, expected] of Object.entries(vector.entries)) {
      const record = await store.lookup(id);
      assert.ok(record, id);
      assert.equal(record.key, expected.key);
      assert.equal(record.cid, expected.cid);
      assert.equal(record.level, expected.level);
    }
    assert.equal(await store.lookup('nobody'), null);
    assert.deepEqual(await store.list(), ['did', 'uno']);
  });

  it('applies the level rules: missing and 0 give 3, 7 gives null and a load warning', async () => {
    const { log, lines } = collect();
    const path = writeJson(join(tempDir(), 'keys.json'), [['a', 'k', 'A'], ['b', 'k', 'B', 0], ['c', 'k', 'C', 7], ['d', 'k', 'D', 255]]);
    const store = await FileKeyStore.open(path, { log });
    const levels = await Promise.all(['a', 'b', 'c', 'd'].map(async (id) => resolveLevel((await store.lookup(id))?.level)));
    assert.deepEqual(levels, [3, 3, null, 255]);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /"c" has level 7/);
  });

  it('takes a 44-character row key as already hashed and hashes any other key (Q14)', async () => {
    const hashed = storedKeyForm('key1');
    const path = writeJson(join(tempDir(), 'keys.json'), [['h', hashed, 'H', 1], ['p', 'key1', 'P', 1]]);
    const store = await FileKeyStore.open(path, quiet);
    const fromHash = await store.lookup('h');
    const fromPlain = await store.lookup('p');
    assert.equal(fromHash?.key, hashed);
    assert.equal(fromPlain?.key, hashed);
    assert.deepEqual(verifyKeyMaterial(fromHash!), keyFromString('key1'));
  });

  it('refuses to open a missing, malformed or unsupported file', async () => {
    const dir = tempDir();
    await assert.rejects(FileKeyStore.open(join(dir, 'missing.json'), quiet), /not found/);
    writeFileSync(join(dir, 'broken.json'), '[["a", "k"');
    await assert.rejects(FileKeyStore.open(join(dir, 'broken.json'), quiet), /not valid JSON/);
    await assert.rejects(FileKeyStore.open(writeJson(join(dir, 'obj.json'), { a: 1 }), quiet), /expected an array/);
    await assert.rejects(FileKeyStore.open(writeJson(join(dir, 'row.json'), [['a', 'k', 'c'], ['b', 5, 'c']]), quiet), /row 2 \("b"\): the key/);
    await assert.rejects(FileKeyStore.open(writeJson(join(dir, 'keys.txt'), []), quiet), /unsupported extension/);
  });

  it('reload picks up a valid new file and keeps the old table when the new file is invalid', async () => {
    const { log, lines } = collect();
    const path = writeJson(join(tempDir(), 'keys.json'), [['a', 'k', 'A', 1]]);
    const store = await FileKeyStore.open(path, { log });

    writeJson(path, [['b', 'k2', 'B', 2]]);
    assert.deepEqual(await store.reload(), { ok: true, count: 1 });
    assert.equal(await store.lookup('a'), null);
    assert.equal((await store.lookup('b'))?.cid, 'B');

    writeFileSync(path, '{ not json');
    const failed = await store.reload();
    assert.equal(failed.ok, false);
    assert.match(lines.at(-1)!, /reload failed, keeping the previous 1 keys: .*not valid JSON/);
    assert.equal((await store.lookup('b'))?.cid, 'B');
  });

  it('add and remove rewrite the file with hashed keys, atomically, readable by a new store', async () => {
    const dir = tempDir();
    const path = writeJson(join(dir, 'keys.json'), [['a', 'plain-a', 'A', 1]]);
    const store = await FileKeyStore.open(path, quiet);
    await store.add('b', 'plain-b', 'B', 2);

    const text = readFileSync(path, 'utf8');
    assert.ok(!text.includes('plain-a') && !text.includes('plain-b'), 'no plain key left in the file');
    assert.deepEqual(JSON.parse(text), [['a', storedKeyForm('plain-a'), 'A', 1], ['b', storedKeyForm('plain-b'), 'B', 2]]);
    assert.deepEqual(readdirSync(dir), ['keys.json'], 'no temp file left behind');

    const reopened = await FileKeyStore.open(path, quiet);
    assert.deepEqual(verifyKeyMaterial((await reopened.lookup('b'))!), keyFromString('plain-b'));
    assert.deepEqual(verifyKeyMaterial((await reopened.lookup('a'))!), keyFromString('plain-a'));

    assert.equal(await store.remove('a'), true);
    assert.equal(await store.remove('a'), false);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), [['b', storedKeyForm('plain-b'), 'B', 2]]);
    await store.close();
  });

  it('add validates the entry and warns about a 44-character key (Q14)', async () => {
    const { log, lines } = collect();
    const path = writeJson(join(tempDir(), 'keys.json'), []);
    const store = await FileKeyStore.open(path, { log });
    await assert.rejects(store.add('x', 'k', '?x', 3), /starts with "\?"/);
    await assert.rejects(store.add('x', 'k', 'X', 7), /level 7/);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), []);
    const longKey = 'k'.repeat(44);
    await store.add('x', longKey, 'X', 3);
    assert.match(lines.join('\n'), /Q14/);
    assert.deepEqual(verifyKeyMaterial((await store.lookup('x'))!), keyFromString(longKey));
  });

  it('creates a missing .json file on add only when asked to', async () => {
    const path = join(tempDir(), 'new.json');
    const store = await FileKeyStore.open(path, { log: () => undefined, createIfMissing: true });
    assert.deepEqual(await store.list(), []);
    await store.add('n', 'nkey', 'N', 3);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), [['n', storedKeyForm('nkey'), 'N', 3]]);
  });
});

describe('FileKeyStore (.js / .mjs modules)', () => {
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  it('loads an .mjs file exporting authInfo (Q15) and reloads its new contents', async () => {
    const path = join(tempDir(), 'keys.mjs');
    writeFileSync(path, "export const authInfo = [['m1', 'mkey', 'M1', 2]];\n");
    const store = await FileKeyStore.open(path, quiet);
    assert.deepEqual(verifyKeyMaterial((await store.lookup('m1'))!), keyFromString('mkey'));

    writeFileSync(path, "export const authInfo = [['m2', 'mkey2', 'M2', 1]];\n");
    assert.deepEqual(await store.reload(), { ok: true, count: 1 });
    assert.equal(await store.lookup('m1'), null);
    assert.equal((await store.lookup('m2'))?.cid, 'M2');

    writeFileSync(path, 'export const authInfo = [[;\n');
    assert.equal((await store.reload()).ok, false);
    assert.equal((await store.lookup('m2'))?.cid, 'M2');
  });

  it('loads a .js ES module and a module without authInfo is an error', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    writeFileSync(join(dir, 'keys.js'), "export const authInfo = [['j1', 'jkey', 'J1']];\n");
    const store = await FileKeyStore.open(join(dir, 'keys.js'), quiet);
    assert.equal(resolveLevel((await store.lookup('j1'))?.level), 3);
    writeFileSync(join(dir, 'empty.mjs'), 'export const other = 1;\n');
    await assert.rejects(FileKeyStore.open(join(dir, 'empty.mjs'), quiet), /does not export authInfo/);
  });

  it('is read-only: add and remove reject with a clear message', async () => {
    const path = join(tempDir(), 'keys.mjs');
    writeFileSync(path, "export const authInfo = [['m1', 'mkey', 'M1', 2]];\n");
    const store = await FileKeyStore.open(path, quiet);
    await assert.rejects(store.add('m2', 'k', 'M2', 3), /JavaScript module and is read-only/);
    await assert.rejects(store.remove('m1'), /read-only/);
    assert.ok(await store.lookup('m1'));
  });
});

describe('sample key files in auth/', () => {
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  it('devices.json and devices.mjs hold the same demo devices', async () => {
    const json = await FileKeyStore.open(join(ROOT, 'auth', 'devices.json'), quiet);
    const mjs = await FileKeyStore.open(join(ROOT, 'auth', 'devices.mjs'), quiet);
    const ids = await json.list();
    assert.ok(ids.includes('dev1') && ids.includes('admin'));
    assert.deepEqual(await mjs.list(), ids);
    for (const id of ids) assert.deepEqual(await mjs.lookup(id), await json.lookup(id));
    assert.equal(resolveLevel((await json.lookup('admin'))?.level), 255);
    assert.deepEqual(verifyKeyMaterial((await json.lookup('dev1'))!), keyFromString('secret-key'));
  });
});
