// The redis service (docs/protocol.md §7.4) against a private redis-server, over ws and cong: every command in
// both spellings, Redis errors, an outage that answers fast, and sudo's key commands on a Redis key store.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { IosigServer } from '../../src/index.js';
import { storedKeyForm } from '../../src/crypto/keys.js';
import { createBuiltinService } from '../../src/services/builtin.js';
import { REDIS_COMMANDS } from '../../src/services/redis.js';
import { ClientPool, type Transport } from '../kit/raw-client.js';
import { Deadline, sleep } from '../kit/wait.js';
import { RedisServerProcess, redisSkipReason } from '../kit/redis-server.js';
import { ADMIN, AUTH_PARAM, DEVICE, ServicePeer, assertReply, startServer } from './support.js';
import { TRANSPORTS, portOf, freePort } from '../kit/server.js';

const NO_PERMISSION = { status: 255, body: 'NO_PERMISSION.' };
const OPERATOR = { id: 'op200', key: 'op-key', cid: 'OP' } as const;
/** An outage must be answered well within this. */
const FAST_FAILURE_MS = 2000;

/** Topic spellings: upper case on one transport, the camel-case forms on the other. */
const SPELLING: Record<Transport, (upper: string) => string> = {
  ws: (upper) => upper,
  cong: (upper) => CAMEL[upper] ?? upper,
};
const CAMEL: Record<string, string> = {
  GET: 'get', SET: 'set', HGETALL: 'hGetAll', HGET: 'hGet', HSET: 'hSet', SADD: 'sAdd', SISMEMBER: 'sIsMember',
  SMEMBERS: 'sMembers', EXISTS: 'exists', SREM: 'sRem', DEL: 'del', KEYS: 'keys', SAVE: 'save',
};

async function rawRedis(port: number): Promise<Redis> {
  const raw = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  raw.on('error', () => undefined);
  await raw.connect();
  return raw;
}

/** Runs `start` with the process in `dir`, so a redis-server it spawns works there. */
async function inDirectory<T>(dir: string, start: () => Promise<T>): Promise<T> {
  const previous = process.cwd();
  process.chdir(dir);
  try {
    return await start();
  } finally {
    process.chdir(previous);
  }
}

describe('redis service', { skip: redisSkipReason() }, () => {
  let redis: RedisServerProcess;
  let raw: Redis;
  let server: IosigServer;
  let dumpDir: string;
  const lines: string[] = [];
  const pool = new ClientPool();

  before(async () => {
    // SAVE writes dump.rdb into redis-server's working directory (`dir` cannot be changed at run time): not the repository.
    dumpDir = mkdtempSync(join(tmpdir(), 'iosig-redis-service-'));
    redis = await inDirectory(dumpDir, () => RedisServerProcess.start());
    raw = await rawRedis(redis.port);
    const log = (line: string): void => void lines.push(line);
    server = await startServer(
      [createBuiltinService('redis', { redisUrl: redis.url, log }), createBuiltinService('reply')],
      { lines, server: { auth: { param: `${AUTH_PARAM},${OPERATOR.id}.${OPERATOR.key}.${OPERATOR.cid}.200` } } },
    );
  });
  afterEach(() => pool.closeAll());
  after(async () => {
    await server?.close();
    raw?.disconnect();
    await redis?.stop();
    if (dumpDir) rmSync(dumpDir, { recursive: true, force: true });
  });

  const login = (kind: Transport, who: { id: string; key: string }): Promise<ServicePeer> =>
    ServicePeer.login(pool, kind, portOf(server, kind), who.id, who.key);

  it('needs level 200', async () => {
    const anon = await ServicePeer.anonymous(pool, 'ws', portOf(server, 'ws'));
    assertReply(await anon.call('redis', 'GET', 'x'), NO_PERMISSION, 'anonymous');
    const device = await login('cong', DEVICE);
    assertReply(await device.call('redis', 'get', 'x'), NO_PERMISSION, 'level 3');
    const operator = await login('ws', OPERATOR);
    assertReply(await operator.call('redis', 'GET', 'x'), { status: 0 }, 'level 200 (missing key: no body)');
  });

  for (const kind of TRANSPORTS) {
    it(`${kind}: runs every command (${kind === 'ws' ? 'upper case' : 'camel case'})`, async () => {
      const peer = await login(kind, kind === 'ws' ? ADMIN : OPERATOR);
      const run = (command: string, ...args: unknown[]): ReturnType<ServicePeer['call']> => peer.call('redis', SPELLING[kind](command), ...args);
      const p = `${kind}:`;
      assertReply(await run('SET', `${p}k`, 'value 1'), { status: 0, body: 'OK' }, 'SET');
      assertReply(await run('GET', `${p}k`), { status: 0, body: 'value 1' }, 'GET');
      assertReply(await run('SET', `${p}n`, 42), { status: 0, body: 'OK' }, 'SET a number');
      assertReply(await run('GET', `${p}n`), { status: 0, body: '42' }, 'GET gives text');
      assertReply(await run('HSET', `${p}h`, 'f1', 'v1', 'f2', 'v2'), { status: 0, body: 2 }, 'HSET pairs');
      assertReply(await run('HSET', `${p}h`, { f3: 'v3', f1: 'v1b' }), { status: 0, body: 1 }, 'HSET an object');
      assertReply(await run('HGETALL', `${p}h`), { status: 0, body: { f1: 'v1b', f2: 'v2', f3: 'v3' } }, 'HGETALL is an object');
      assertReply(await run('HGET', `${p}h`, 'f2'), { status: 0, body: 'v2' }, 'HGET');
      assertReply(await run('SADD', `${p}s`, 'a', 'b', 'c'), { status: 0, body: 3 }, 'SADD');
      assertReply(await run('SADD', `${p}s`, ['c', 'd']), { status: 0, body: 1 }, 'SADD an array');
      assertReply(await run('SISMEMBER', `${p}s`, 'a'), { status: 0, body: true }, 'SISMEMBER true');
      assertReply(await run('SISMEMBER', `${p}s`, 'z'), { status: 0 }, 'SISMEMBER false (a falsy body is left out)');
      const members = await run('SMEMBERS', `${p}s`);
      assert.equal(members.status, 0);
      assert.deepEqual([...(members.body as string[])].sort(), ['a', 'b', 'c', 'd']);
      assertReply(await run('EXISTS', `${p}k`, `${p}h`, `${p}none`), { status: 0, body: 2 }, 'EXISTS');
      assertReply(await run('SREM', `${p}s`, 'a'), { status: 0, body: 1 }, 'SREM');
      assertReply(await run('DEL', `${p}k`), { status: 0, body: 1 }, 'DEL');
      assertReply(await run('DEL', `${p}k`), { status: 0 }, 'DEL again (0: no body)');
      const keys = await run('KEYS', `${p}*`);
      assert.deepEqual([...(keys.body as string[])].sort(), [`${p}h`, `${p}n`, `${p}s`]);
      assertReply(await run('SAVE'), { status: 0, body: 'OK' }, 'SAVE');
      assert.deepEqual(await raw.hgetall(`${p}h`), { f1: 'v1b', f2: 'v2', f3: 'v3' }, 'the data is in Redis');
    });

    it(`${kind}: Redis errors and unusable arguments answer 255 with the message`, async () => {
      const peer = await login(kind, ADMIN);
      await raw.hset(`${kind}:hash`, 'f', 'v');
      const wrongType = await peer.call('redis', 'GET', `${kind}:hash`);
      assert.equal(wrongType.status, 255);
      assert.match(String(wrongType.body), /WRONGTYPE/);
      const arity = await peer.call('redis', 'GET');
      assert.equal(arity.status, 255);
      assert.match(String(arity.body), /wrong number of arguments/i);
      const nested = await peer.call('redis', 'SET', `${kind}:x`, { deep: { er: 1 } });
      assert.equal(nested.status, 255);
      assert.match(String(nested.body), /argument 1 must be text, a number or bytes/);
      assertReply(await peer.call('redis', 'FLUSHALL'), { status: 255, body: 'UNKNOWN_COMMAND' }, 'FLUSHALL');
      assertReply(await peer.call('redis', 'Get', 'x'), { status: 255, body: 'UNKNOWN_COMMAND' }, 'Get');
      assertReply(await peer.call('redis', 'hgetall', 'x'), { status: 255, body: 'UNKNOWN_COMMAND' }, 'hgetall');
      assert.equal(await raw.dbsize() > 0, true);
    });
  }

  it('accepts exactly the 13 commands in both spellings', async () => {
    const peer = await login('ws', ADMIN);
    for (const upper of REDIS_COMMANDS) {
      for (const topic of [upper, CAMEL[upper]!]) {
        const res = await peer.call('redis', topic);
        assert.notEqual(res.body, 'UNKNOWN_COMMAND', topic);
      }
    }
  });

  it('answers fast while Redis is down, keeps serving, and recovers', async () => {
    const peer = await login('cong', ADMIN);
    await redis.stop();
    const started = Date.now();
    const res = await peer.call('redis', 'GET', 'x');
    const took = Date.now() - started;
    assert.equal(res.status, 255);
    assert.match(String(res.body), /not connected|closed|timed out/i);
    assert.ok(took < FAST_FAILURE_MS, `answered in ${took} ms`);
    assertReply(await peer.call('reply', 'echo', 'alive'), { status: 0, body: ['alive'] }, 'the server still serves');
    assert.ok(lines.some((line) => line.includes('redis service')), `the outage is logged: ${lines.join(' | ')}`);

    await inDirectory(dumpDir, () => redis.restart());
    const deadline = new Deadline(5000);
    for (;;) {
      const again = await peer.call('redis', 'SET', 'after', 'outage');
      if (again.status === 0) break;
      assert.ok(!deadline.expired, `Redis came back but the service did not: ${JSON.stringify(again.body)}`);
      await sleep(100);
    }
    assertReply(await peer.call('redis', 'GET', 'after'), { status: 0, body: 'outage' }, 'after the outage');
    raw.disconnect();
    raw = await rawRedis(redis.port);
  });
});

describe('redis service with Redis unreachable from the start', () => {
  let server: IosigServer;
  const pool = new ClientPool();
  before(async () => {
    const nobody = `redis://127.0.0.1:${await freePort()}`;
    server = await startServer([createBuiltinService('redis', { redisUrl: nobody, log: () => undefined })]);
  });
  afterEach(() => pool.closeAll());
  after(() => server.close());

  it('answers 255 with the reason, without hanging', async () => {
    const peer = await ServicePeer.login(pool, 'ws', portOf(server, 'ws'), ADMIN.id, ADMIN.key);
    for (let attempt = 0; attempt < 2; attempt++) {
      const started = Date.now();
      const res = await peer.call('redis', 'GET', 'x');
      const took = Date.now() - started;
      assert.equal(res.status, 255);
      assert.match(String(res.body), /not connected/);
      assert.ok(took < FAST_FAILURE_MS, `attempt ${attempt}: answered in ${took} ms`);
    }
  });
});

describe('redis service close', { skip: redisSkipReason() }, () => {
  let redis: RedisServerProcess;
  let raw: Redis;
  after(async () => {
    raw?.disconnect();
    await redis?.stop();
  });

  it('server.close() quits the service connection', async () => {
    redis = await RedisServerProcess.start();
    raw = await rawRedis(redis.port);
    const clients = async (): Promise<number> => String(await raw.client('LIST')).trim().split('\n').length;
    const alone = await clients();
    const service = createBuiltinService('redis', { redisUrl: redis.url });
    const server = await startServer([service]);
    const pool = new ClientPool();
    try {
      const peer = await ServicePeer.login(pool, 'cong', portOf(server, 'cong'), ADMIN.id, ADMIN.key);
      assertReply(await peer.call('redis', 'SET', 'a', 'b'), { status: 0, body: 'OK' });
      assert.equal(await clients(), alone + 1, 'the service holds one connection');
    } finally {
      await pool.closeAll();
      await server.close();
    }
    const deadline = new Deadline(2000);
    while ((await clients()) !== alone && !deadline.expired) await sleep(20);
    assert.equal(await clients(), alone, 'the connection is gone after close');
  });
});

describe('sudo key commands on a Redis key store', { skip: redisSkipReason() }, () => {
  let redis: RedisServerProcess;
  let raw: Redis;
  let server: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    redis = await RedisServerProcess.start();
    raw = await rawRedis(redis.port);
    await raw.hset(`device:${ADMIN.id}`, { key: storedKeyForm(ADMIN.key), cid: ADMIN.cid, level: '255' });
    server = await startServer([createBuiltinService('sudo')], { auth: false, server: { auth: { redis: redis.url } } });
  });
  afterEach(() => pool.closeAll());
  after(async () => {
    await server?.close();
    raw?.disconnect();
    await redis?.stop();
  });

  for (const kind of TRANSPORTS) {
    it(`${kind}: addauth, getauth, delauth and getauthidlist answer like the reference's Redis store`, async () => {
      const root = await ServicePeer.login(pool, kind, portOf(server, kind), ADMIN.id, ADMIN.key);
      const id = `r-${kind}`;
      assertReply(await root.call('sudo', 'addauth', id, 'rk', `R-${kind}`, 3), { status: 0, body: 3 }, 'addauth: HSET field count');
      assertReply(await root.call('sudo', 'adddevice', id, 'rk', `R-${kind}`, 3), { status: 0 }, 'adddevice again: 0 new fields');
      assertReply(await root.call('sudo', 'getauth', id), { status: 0, body: { key: '***', cid: `R-${kind}`, level: '3' } }, 'getauth');
      const ids = await root.call('sudo', 'getauthidlist');
      assert.ok((ids.body as string[]).includes(id) && (ids.body as string[]).includes(ADMIN.id), JSON.stringify(ids.body));
      const device = await ServicePeer.login(pool, kind, portOf(server, kind), id, 'rk');
      assert.equal(device.cid, `R-${kind}`);
      assertReply(await root.call('sudo', 'delauth', id), { status: 0, body: 1 }, 'delauth: DEL count');
      assertReply(await root.call('sudo', 'deldevice', id), { status: 0 }, 'deldevice again: 0');
      assert.equal(await raw.exists(`device:${id}`), 0);
    });
  }
});
