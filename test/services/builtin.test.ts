// createBuiltinService: the names io-server -a accepts, and the options each service takes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KeyStore } from '../../src/auth/key-store.js';
import { BUILTIN_SERVICE_NAMES, createBuiltinService } from '../../src/services/builtin.js';
import type { Caller, ServiceHost } from '../../src/services/service.js';
import { freePort } from '../kit/server.js';

const ROOT: Caller = { ssid: 1, cid: 'ROOT', did: 'root', level: 255, admin: true, ip: '127.0.0.1' };

/** A host with nothing online and one stored device. */
function hostWithOneDevice(): ServiceHost {
  const keyStore: KeyStore = {
    kind: 'param',
    lookup: async (id) => (id === 'd1' ? { id: 'd1', key: 'stored-hash', cid: 'C1', level: 3 } : null),
    add: async () => undefined,
    remove: async () => false,
    list: async () => ['d1'],
    close: async () => undefined,
  };
  return {
    connectionList: () => [],
    connectionByCid: () => undefined,
    channelList: () => [],
    subscribersOf: () => null,
    retainedTopicsOf: () => [],
    closeCid: () => false,
    keyStore,
    log: () => undefined,
  };
}

describe('createBuiltinService', () => {
  it('knows reply, sudo and redis', () => {
    assert.deepEqual([...BUILTIN_SERVICE_NAMES], ['reply', 'sudo', 'redis']);
    assert.equal(createBuiltinService('reply').name, 'reply');
    assert.deepEqual([...createBuiltinService('reply').commands], ['echo', 'date', 'unixtime']);
    assert.equal(createBuiltinService('sudo').name, 'sudo');
    assert.equal(createBuiltinService('sudo').commands.length, 23, '8 on sessions and channels, 8 on keys, 7 on durable state');
  });

  it('throws a clear error for any other name', () => {
    assert.throws(() => createBuiltinService('store'), /unknown service "store": the built-in services are reply, sudo, redis/);
    assert.throws(() => createBuiltinService('Reply'), /unknown service "Reply"/);
  });

  it('sudo hides stored keys unless revealKeys is set (Q23)', async () => {
    const host = hostWithOneDevice();
    const req = { mid: 1, target: 'sudo', topic: 'getauth', args: ['d1'] };
    assert.deepEqual(await createBuiltinService('sudo').call(ROOT, req, host), { status: 0, body: { key: '***', cid: 'C1', level: 3 } });
    assert.deepEqual(await createBuiltinService('sudo', { revealKeys: true }).call(ROOT, req, host), {
      status: 0,
      body: { key: 'stored-hash', cid: 'C1', level: 3 },
    });
  });

  it('redis: a bad URL is refused at creation; a good one fails fast while Redis is unreachable, and closes', async () => {
    assert.throws(() => createBuiltinService('redis', { redisUrl: 'http://example' }), /must start with redis:\/\//);
    const lines: string[] = [];
    const service = createBuiltinService('redis', { redisUrl: `redis://127.0.0.1:${await freePort()}`, log: (line) => lines.push(line) });
    assert.equal(service.name, 'redis');
    assert.equal(service.checkPermission({ ...ROOT, level: 199 }, { mid: 1, target: 'redis', topic: 'GET', args: [] }), false);
    assert.equal(service.checkPermission({ ...ROOT, level: 200 }, { mid: 1, target: 'redis', topic: 'GET', args: [] }), true);
    const reply = await service.call(ROOT, { mid: 1, target: 'redis', topic: 'GET', args: ['x'] }, hostWithOneDevice());
    assert.equal(reply.status, 255);
    assert.match(String(reply.body), /not connected/);
    await service.close?.();
    assert.ok(lines.some((line) => line.includes('redis service')), 'the failed connection is logged');
  });
});
