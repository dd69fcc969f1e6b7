// The -r key store against a private redis-server: records, levels, SCAN listing, and an outage with recovery.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { keyFromString, storedKeyForm } from '../../src/crypto/keys.js';
import { openKeyStore } from '../../src/auth/index.js';
import { resolveLevel, verifyKeyMaterial } from '../../src/auth/key-store.js';
import { RedisKeyStore } from '../../src/auth/redis-store.js';
import { redisTarget } from '../../src/auth/redis-target.js';
import { Deadline, sleep, withTimeout } from '../kit/wait.js';
import { RedisServerProcess, redisSkipReason } from '../kit/redis-server.js';

describe('RedisKeyStore', { skip: redisSkipReason() }, () => {
  let server: RedisServerProcess;
  let store: RedisKeyStore;
  let raw: Redis;
  const logLines: string[] = [];

  before(async () => {
    server = await RedisServerProcess.start();
    store = new RedisKeyStore(redisTarget(server.url, {}), (line) => logLines.push(line));
    await store.ready(3000);
    raw = new Redis(server.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    raw.on('error', () => undefined);
    await raw.connect();
  });

  after(async () => {
    raw?.disconnect();
    await store?.close();
    await server?.stop();
  });

  it('adds hashed keys in the reference layout and looks them up', async () => {
    await store.add('id1', 'key1', 'cid1', 1);
    assert.deepEqual(await raw.hgetall('device:id1'), { key: storedKeyForm('key1'), cid: 'cid1', level: '1' });
    const record = await store.lookup('id1');
    assert.deepEqual(record, { id: 'id1', key: storedKeyForm('key1'), cid: 'cid1', level: '1' });
    assert.deepEqual(verifyKeyMaterial(record!), keyFromString('key1'));
    assert.equal(resolveLevel(record!.level), 1);
    assert.equal(await store.lookup('nobody'), null);
  });

  it('reads levels as strings: "0" stays 0, a missing level is 3', async () => {
    await raw.hset('device:zero', { key: storedKeyForm('z'), cid: 'Z', level: '0' });
    await raw.hset('device:nolevel', { key: storedKeyForm('n'), cid: 'N' });
    assert.equal(resolveLevel((await store.lookup('zero'))?.level), 0);
    assert.equal(resolveLevel((await store.lookup('nolevel'))?.level), 3);
    await raw.hset('device:seven', { key: storedKeyForm('s'), cid: 'S', level: '7' });
    assert.equal(resolveLevel((await store.lookup('seven'))?.level), null);
  });

  it('treats a hash without `key` as an unknown id, and returns uid and name when present', async () => {
    await raw.hset('device:nokey', { cid: 'NK', level: '3' });
    assert.equal(await store.lookup('nokey'), null);
    await raw.hset('device:full', { key: storedKeyForm('f'), cid: 'F', level: '2', uid: 'u-1', name: 'Front door' });
    assert.deepEqual(await store.lookup('full'), { id: 'full', key: storedKeyForm('f'), cid: 'F', level: '2', uid: 'u-1', name: 'Front door' });
  });

  it('lists every device:* id with SCAN and removes ids', async () => {
    const many = Array.from({ length: 450 }, (_, i) => `m${i}`);
    const pipeline = raw.pipeline();
    for (const id of many) pipeline.hset(`device:${id}`, { key: storedKeyForm(id), cid: id, level: '3' });
    await raw.set('other:key', 'x');
    await pipeline.exec();
    const ids = await store.list();
    for (const id of [...many, 'id1', 'nokey']) assert.ok(ids.includes(id), id);
    assert.ok(!ids.includes('other:key') && !ids.includes('key'));
    assert.equal(new Set(ids).size, ids.length);

    assert.equal(await store.remove('id1'), true);
    assert.equal(await store.remove('id1'), false);
    assert.equal(await store.lookup('id1'), null);
  });

  it('validates entries on add', async () => {
    await assert.rejects(store.add('x', 'k', '', 3), /cid is empty/);
    await assert.rejects(store.add('x', 'k', 'X', 9), /level 9/);
    assert.equal(await raw.exists('device:x'), 0);
  });

  it('is what openKeyStore opens for -r with a URL', async () => {
    const opened = await openKeyStore({ redis: server.url }, () => undefined, {});
    assert.equal(opened?.kind, 'redis');
    await opened?.add('viaopen', 'k', 'V', 2);
    assert.equal((await store.lookup('viaopen'))?.cid, 'V');
    await opened?.close();
  });

  it('rejects lookups quickly during an outage, logs it once, and recovers by itself', async () => {
    raw.disconnect();
    await server.stop();
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      await assert.rejects(withTimeout(store.lookup('zero'), 2000, 'lookup to reject'), (err: Error) => err.name !== 'TimeoutError');
      assert.ok(Date.now() - started < 2000);
    }
    await sleep(300); // a few reconnect attempts fail meanwhile; they must not add log lines
    assert.equal(logLines.filter((line) => line.includes('reconnecting in the background')).length, 1);

    await server.restart();
    const deadline = new Deadline(5000);
    let recovered = false;
    while (!recovered && !deadline.expired) {
      try {
        await store.add('back', 'bkey', 'B', 2);
        recovered = true;
      } catch {
        await sleep(100);
      }
    }
    assert.ok(recovered, 'the store works again within 5 s of the restart');
    assert.deepEqual(verifyKeyMaterial((await store.lookup('back'))!), keyFromString('bkey'));
    assert.ok(logLines.some((line) => line.includes('connected again')));
  });
});
