// Key stores through the server (docs/protocol.md §4.2, Q13, Q17, Q33): BOHO_AUTH, a .json file with reloadKeys(),
// and Redis against a real redis-server, including an outage and its recovery.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ClientPool } from '../kit/raw-client.js';
import { sleep, waitFor } from '../kit/wait.js';
import { startServer, type IosigServer, TRANSPORTS } from '../kit/server.js';
import { RedisServerProcess, redisSkipReason } from '../kit/redis-server.js';
import { storedKeyForm } from '../../src/crypto/keys.js';
import { drained, openPeer, tempDir, type Peer } from '../kit/peer.js';
import { inside } from '../kit/inside.js';
import { ANON_CID } from '../kit/messages.js';

const FAIL_DELAY = 100;

async function refused(p: Peer, id: string, key: string): Promise<void> {
  const t0 = Date.now();
  p.wire.send(p.authReq(id, key));
  await p.expectAuthFail(t0);
  const { json, encrypted } = await p.iam();
  assert.equal(encrypted, false);
  assert.equal(json.did, '');
}

describe('BOHO_AUTH key store (auth: { env: true })', () => {
  let server: IosigServer;
  const pool = new ClientPool();
  const saved = process.env['BOHO_AUTH'];

  before(async () => {
    process.env['BOHO_AUTH'] = 'envd.env-key.ENVD.2,envz.env-z.ENVZ.0';
    server = await startServer({ auth: { env: true }, authFailDelay: FAIL_DELAY });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(async () => {
    await server.close();
    if (saved === undefined) delete process.env['BOHO_AUTH'];
    else process.env['BOHO_AUTH'] = saved;
  });

  for (const kind of TRANSPORTS) {
    it(`logs in with a key from BOHO_AUTH; level 0 there means 3; a wrong key fails (${kind})`, async () => {
      const p = await openPeer(pool, server, kind);
      assert.deepEqual(await p.login('envd', 'env-key'), { level: 2, cid: 'ENVD' });
      const z = await openPeer(pool, server, kind);
      assert.deepEqual(await z.login('envz', 'env-z'), { level: 3, cid: 'ENVZ' });
      await refused(await openPeer(pool, server, kind), 'envd', 'env-key-wrong');
    });
  }
});

describe('file key store (.json) and reloadKeys()', () => {
  let server: IosigServer;
  const pool = new ClientPool();
  const tmp = tempDir('iosig-keys-');
  const file = join(tmp.dir, 'auth.json');

  before(async () => {
    writeFileSync(
      file,
      JSON.stringify([
        ['fdev', 'file-key', 'FD', 2],
        ['nocid', 'nocid-key', '', 3],
        ['hashed', storedKeyForm('hashed-key'), 'HS', 11],
        ['badlvl', 'bl-key', 'BL', 42],
      ]),
    );
    server = await startServer({ auth: { file }, authFailDelay: FAIL_DELAY });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(async () => {
    await server.close();
    tmp.remove();
  });

  for (const kind of TRANSPORTS) {
    it(`plain and stored-hash keys log in; empty cid (Q33) and level 42 are refused (${kind})`, async () => {
      assert.deepEqual(await (await openPeer(pool, server, kind)).login('fdev', 'file-key'), { level: 2, cid: 'FD' });
      assert.deepEqual(await (await openPeer(pool, server, kind)).login('hashed', 'hashed-key'), { level: 11, cid: 'HS' });
      const q33 = await openPeer(pool, server, kind);
      await refused(q33, 'nocid', 'nocid-key');
      assert.match(await q33.anonymousCid(), ANON_CID, 'the refused connection gets an anonymous cid (Q19)');
      assert.equal(inside(server).router.cids.has(''), false, 'no bogus "" entry in the CID index (Q33)');
      await refused(await openPeer(pool, server, kind), 'badlvl', 'bl-key');
    });
  }

  it('reloadKeys() picks up a rewritten file: new keys log in, removed ones fail', async () => {
    const before = await openPeer(pool, server, 'ws');
    await refused(before, 'fnew', 'new-key');
    writeFileSync(file, JSON.stringify([['fnew', 'new-key', 'FN', 1]]));
    await server.reloadKeys();
    for (const kind of TRANSPORTS) {
      const p = await openPeer(pool, server, kind);
      assert.deepEqual(await p.login('fnew', 'new-key'), { level: 1, cid: 'FN' });
      await p.wire.close();
      await waitFor(() => !inside(server).router.cids.has('FN'), 2000, 'the FN session to be gone');
      await refused(await openPeer(pool, server, kind), 'fdev', 'file-key');
    }
  });
});

describe('Redis key store against a real redis-server', { skip: redisSkipReason() }, () => {
  let redis: RedisServerProcess;
  let client: Redis;
  let server: IosigServer;
  const pool = new ClientPool();

  async function seed(): Promise<void> {
    await client.hset('device:rdev', { key: storedKeyForm('redis-key'), cid: 'RD', level: '0' });
    await client.hset('device:rten', { key: storedKeyForm('ten-key'), cid: 'RT', level: '10' });
    await client.hset('device:rnocid', { key: storedKeyForm('nc-key'), cid: '', level: '3' });
    await client.hset('device:rnokey', { cid: 'RNK', level: '3' });
  }

  before(async () => {
    redis = await RedisServerProcess.start();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    await seed();
    server = await startServer({ auth: { redis: redis.url }, authFailDelay: FAIL_DELAY });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(async () => {
    await server?.close();
    client?.disconnect();
    await redis?.stop();
  });

  for (const kind of TRANSPORTS) {
    it(`HSET device:<id> logins: level "0" gives 0, "10" gives 10; no cid / no key / wrong key fail (${kind})`, async () => {
      const p = await openPeer(pool, server, kind);
      assert.deepEqual(await p.login('rdev', 'redis-key'), { level: 0, cid: 'RD' });
      assert.equal((await p.iam()).json.level, 0);
      assert.deepEqual(await (await openPeer(pool, server, kind)).login('rten', 'ten-key'), { level: 10, cid: 'RT' });
      await refused(await openPeer(pool, server, kind), 'rnocid', 'nc-key');
      await refused(await openPeer(pool, server, kind), 'rnokey', 'anything');
      await refused(await openPeer(pool, server, kind), 'rdev', 'wrong');
      await refused(await openPeer(pool, server, kind), 'rnobody', 'x');
    });
  }

  it('Redis killed: AUTH_FAIL and the server keeps running; Redis back on the same port: logins work again', async () => {
    await redis.stop();
    for (const kind of TRANSPORTS) {
      const p = await openPeer(pool, server, kind);
      await refused(p, 'rdev', 'redis-key');
      assert.match(await p.anonymousCid(), ANON_CID, 'anonymous service continues during the outage');
    }
    await redis.restart();
    await seed(); // no persistence: the new process starts empty
    for (const kind of TRANSPORTS) {
      const deadline = Date.now() + 6000;
      for (;;) {
        const p = await openPeer(pool, server, kind);
        p.wire.send(p.authReq('rdev', 'redis-key'));
        const first = await p.wire.next(3000);
        if (first[0] === 0xc3) {
          assert.equal(first[1], 0);
          const res = await p.wire.next(2000);
          assert.ok(p.boho.verifyAuthRes(res), 'login works again after the restart');
          break;
        }
        assert.equal(first.toString('hex'), 'b3');
        assert.ok(Date.now() < deadline, 'logins did not recover within 6 s of the Redis restart');
        await p.wire.close();
        await sleep(200);
      }
      await pool.closeAll();
      await drained(server);
    }
  });
});
