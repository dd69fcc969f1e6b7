// The -e parameter and BOHO_AUTH (-E) key stores (§4.2, Q17).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keyFromString, storedKeyForm } from '../../src/crypto/keys.js';
import { resolveLevel, verifyKeyMaterial } from '../../src/auth/key-store.js';
import { ParamKeyStore, parseAuthList } from '../../src/auth/param-store.js';
import { fromVectorValue, loadVector } from '../kit/vectors.js';

interface ProviderVector {
  input: string;
  entries: Record<string, { key: string; cid: string; level: unknown }>;
}

const vector = loadVector<{ providers: { StringKeyProvider: ProviderVector } }>('auth_keys.json').providers.StringKeyProvider;

function collect(): { log: (line: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { log: (line) => lines.push(line), lines };
}

describe('parseAuthList', () => {
  it('reproduces the reference entries (keys hashed, level through parseInt)', () => {
    const { records, errors } = parseAuthList(vector.input);
    assert.deepEqual(errors, []);
    assert.equal(records.length, Object.keys(vector.entries).length);
    for (const record of records) {
      const expected = vector.entries[record.id];
      assert.ok(expected, record.id);
      assert.equal(record.key, expected.key);
      assert.equal(record.cid, expected.cid);
      assert.deepEqual(record.level, fromVectorValue(expected.level));
    }
  });

  it('gives level 3 to a missing level and to level 0 (Q13)', () => {
    const { records } = parseAuthList('a.k.c,b.k.c.0,c.k.c.2');
    assert.deepEqual(records.map((record) => resolveLevel(record.level)), [3, 3, 2]);
  });

  it('rejects entries with an empty id, key or cid, naming each', () => {
    const { records, errors } = parseAuthList('good.k.c.1,.k.c.1,nokey..c.1,nocid.k..1,onlyid');
    assert.deepEqual(records.map((record) => record.id), ['good']);
    assert.equal(errors.length, 4);
    assert.match(errors[0]!, /entry 2 .*empty id/);
    assert.match(errors[1]!, /"nokey".*empty key/);
    assert.match(errors[2]!, /"nocid".*empty cid/);
    assert.match(errors[3]!, /"onlyid".*empty key, cid/);
  });

  it('rejects an entry with a dot in the key instead of misreading it', () => {
    const { errors } = parseAuthList('dev.my.key.cid.1');
    assert.match(errors.join(), /"dev".*cannot contain/);
  });

  it('skips blank entries such as a trailing comma', () => {
    const { records, errors } = parseAuthList(' a.k.c.1 , ,b.k.c.2,');
    assert.deepEqual(errors, []);
    assert.deepEqual(records.map((record) => record.id), ['a', 'b']);
  });
});

describe('ParamKeyStore', () => {
  it('looks up hits and misses', async () => {
    const store = ParamKeyStore.fromList('id1.key1.cid1.1', 'param', () => undefined);
    assert.equal(store.kind, 'param');
    const record = await store.lookup('id1');
    assert.ok(record);
    assert.deepEqual(verifyKeyMaterial(record), keyFromString('key1'));
    assert.equal(await store.lookup('id2'), null);
    assert.deepEqual(await store.list(), ['id1']);
  });

  it('throws a clear error for a bad list, naming the entry', () => {
    assert.throws(() => ParamKeyStore.fromList('a.k.c.1,b..c.1', 'param', () => undefined), /auth parameter: entry 2 \("b"\) has an empty key/);
    assert.throws(() => ParamKeyStore.fromList(',', 'param', () => undefined), /no entries/);
  });

  it('warns at load about a level that can never log in', () => {
    const { log, lines } = collect();
    ParamKeyStore.fromList('a.k.c.7', 'param', log);
    assert.match(lines.join(), /"a" has level 7/);
  });

  it('reads BOHO_AUTH for -E', async () => {
    const store = ParamKeyStore.fromEnv({ BOHO_AUTH: 'e1.ekey.E1.2' }, () => undefined);
    assert.equal(store.kind, 'env');
    assert.equal((await store.lookup('e1'))?.cid, 'E1');
    assert.throws(() => ParamKeyStore.fromEnv({}, () => undefined), /BOHO_AUTH is not set/);
    assert.throws(() => ParamKeyStore.fromEnv({ BOHO_AUTH: 'x..y' }, () => undefined), /BOHO_AUTH: entry 1/);
  });

  it('adds hashed keys in memory, warns about 44-character keys (Q14) and removes', async () => {
    const { log, lines } = collect();
    const store = ParamKeyStore.fromList('a.k.c.1', 'param', log);
    const longKey = 'L'.repeat(44);
    await store.add('b', longKey, 'B', 2);
    const record = await store.lookup('b');
    assert.equal(record?.key, storedKeyForm(longKey));
    assert.deepEqual(verifyKeyMaterial(record!), keyFromString(longKey));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /Q14/);
    await assert.rejects(store.add('c', 'k', 'C', 7), /level 7/);
    assert.equal(await store.remove('b'), true);
    assert.equal(await store.remove('b'), false);
    assert.deepEqual(await store.list(), ['a']);
  });

  it('hands out copies, so callers cannot change the table', async () => {
    const store = ParamKeyStore.fromList('a.k.c.1', 'param', () => undefined);
    const record = await store.lookup('a');
    record!.cid = 'changed';
    assert.equal((await store.lookup('a'))?.cid, 'c');
  });
});
