// Issue 9 item 8: identity and authorisation. X-Forwarded-For walked from the right; removing or re-keying a
// device ends its live sessions (file + reload, store writes as sudo delauth does them, Redis changed from
// outside); the redis service cannot reach the key store's keys; anonymous live-feed viewers cannot lock out
// the admin; log lines escape control characters.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ClientPool } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { startServer, type IosigServer } from '../kit/server.js';
import { type Peer, drained, loggedIn, openPeer } from '../kit/peer.js';
import { RedisServerProcess, redisSkipReason } from '../kit/redis-server.js';
import { MSG } from '../../src/protocol/codes.js';
import { RedisService } from '../../src/services/redis.js';
import { redisTarget } from '../../src/auth/redis-target.js';
import type { Caller } from '../../src/services/service.js';
import { MAX_ANONYMOUS_FEED_CLIENTS, MAX_ANONYMOUS_FEED_PER_ADDRESS } from '../../src/http/live-feed.js';
import { escapeControl } from '../../src/logging/escape.js';
import { maskSecrets } from '../../src/cli/mask-secrets.js';
import { resolveOptions } from '../../src/options.js';
import { inside } from '../kit/inside.js';

/** Expects AUTH_CLEAR (plain) and then the close. */
async function expectRevoked(peer: Peer, what: string): Promise<void> {
  const clear = await peer.wire.next(5000);
  assert.equal(clear[0], MSG.AUTH_CLEAR, `${what}: AUTH_CLEAR first, got ${clear.toString('hex')}`);
  await peer.wire.waitClosed(3000);
}

describe('X-Forwarded-For from the right', () => {
  const pool = new ClientPool();
  let server: IosigServer;
  before(async () => {
    server = await startServer({ trustedProxies: ['127.0.0.1', '10.0.0.9'] });
  });
  after(async () => {
    await pool.closeAll();
    await server.close();
  });

  const cases: [string, string][] = [
    ['198.51.100.1', '198.51.100.1'],
    // The client wrote a private address in front; our proxy appended what it saw: the client is that one.
    ['192.168.1.5, 203.0.113.9', '203.0.113.9'],
    // A chain through two of our proxies: both skipped.
    ['192.168.1.5, 203.0.113.9, 10.0.0.9', '203.0.113.9'],
    ['garbage, 203.0.113.10', '203.0.113.10'],
  ];
  for (const [header, client] of cases) {
    it(`"${header}" → ${client}`, async () => {
      const c = await pool.ready('ws', server.wsPort!, { headers: { 'x-forwarded-for': header } });
      c.send(Buffer.from([MSG.IAM]));
      const res = await c.nextOfType(MSG.IAM_RES, 2000);
      const iam = JSON.parse(res.msg.subarray(1).toString('utf8')) as { ip: string };
      assert.equal(iam.ip, client);
      assert.notEqual(inside(server).connectionByCid(c.cid)?.ip.startsWith('192.168.'), true, 'never the spoofed private address');
    });
  }
});

describe('revocation of live sessions', () => {
  const pool = new ClientPool();
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'iosig-revoke-'));
  });
  afterEach(async () => {
    await pool.closeAll();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('file store: removing a device and reloading (SIGHUP) ends its sessions on both transports; a re-key too', async () => {
    const file = join(dir, 'keys.json');
    writeFileSync(
      file,
      JSON.stringify([['gone', 'key-gone', 'GONE', 3], ['gone2', 'key-gone2', 'GONE2', 3], ['rekey', 'key-rekey', 'REKEY', 3], ['stay', 'key-stay', 'STAY', 3]]),
    );
    const server = await startServer({ auth: { file }, authFailDelay: 10 });
    try {
      const gone = [await loggedIn(pool, server, 'ws', 'gone', 'key-gone'), await loggedIn(pool, server, 'cong', 'gone2', 'key-gone2')];
      const rekey = await loggedIn(pool, server, 'cong', 'rekey', 'key-rekey');
      const stay = await loggedIn(pool, server, 'ws', 'stay', 'key-stay');
      writeFileSync(file, JSON.stringify([['rekey', 'a-new-key', 'REKEY', 3], ['stay', 'key-stay', 'STAY', 3]]));
      const result = await server.reloadKeys();
      assert.deepEqual(result, { ok: true, count: 2 });
      for (const peer of gone) await expectRevoked(peer, `removed device (${peer.wire.kind})`);
      await expectRevoked(rekey, 're-keyed device');
      assert.equal(stay.wire.closed, false, 'an unchanged device stays');
      // A broken file keeps the old keys and says so.
      writeFileSync(file, '{ not json');
      const failed = await server.reloadKeys();
      assert.equal(failed?.ok, false);
      assert.equal(stay.wire.closed, false);
    } finally {
      await server.close();
    }
  });

  it('store writes (what sudo delauth / addauth do) end the sessions they change', async () => {
    const server = await startServer({ auth: { param: 'del.key-del.DEL.3,chg.key-chg.CHG.3' }, authFailDelay: 10 });
    try {
      const del = await loggedIn(pool, server, 'cong', 'del', 'key-del');
      const chg = await loggedIn(pool, server, 'ws', 'chg', 'key-chg');
      assert.equal(await inside(server).keyStore!.remove('del'), true);
      await expectRevoked(del, 'deleted device');
      await inside(server).keyStore!.add('chg', 'key-chg', 'CHG', 10);
      await expectRevoked(chg, 'device given another level');
      await drained(server);
    } finally {
      await server.close();
    }
  });

  it('Redis: a device deleted or re-keyed from outside is logged out within the poll period', { skip: redisSkipReason() }, async () => {
    const redis = await RedisServerProcess.start();
    const outside = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
    try {
      await outside.hset('device:rdel', { key: 'key-rdel', cid: 'RDEL', level: '3' });
      await outside.hset('device:rkey', { key: 'key-rkey', cid: 'RKEY', level: '3' });
      const server = await startServer({ auth: { redis: redis.url }, authFailDelay: 10, sessionAuditMs: 200 });
      try {
        const rdel = await loggedIn(pool, server, 'cong', 'rdel', 'key-rdel');
        const rkey = await loggedIn(pool, server, 'ws', 'rkey', 'key-rkey');
        const started = Date.now();
        await outside.del('device:rdel');
        await outside.hset('device:rkey', { key: 'another-key' });
        await expectRevoked(rdel, 'deleted in Redis');
        await expectRevoked(rkey, 're-keyed in Redis');
        console.log(`# Redis revocation took ${Date.now() - started} ms (poll period 200 ms)`);
      } finally {
        await server.close();
      }
    } finally {
      outside.disconnect();
      await redis.stop();
    }
  });
});

describe('redis service keyspace', { skip: redisSkipReason() }, () => {
  let redis: RedisServerProcess;
  let outside: Redis;
  const caller = { level: 200 } as unknown as Caller;
  const call = (service: RedisService, topic: string, ...args: string[]) =>
    service.call(caller, { target: 'redis', topic, args, mid: 1 } as unknown as Parameters<RedisService['call']>[1]);

  before(async () => {
    redis = await RedisServerProcess.start();
    outside = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    await outside.hset('device:admin', { key: 'secret-hash', cid: 'ADMIN', level: '255' });
    await outside.set('app:x', '1');
    await outside.set('other', '2');
  });
  after(async () => {
    outside.disconnect();
    await redis.stop();
  });

  it("never reads or writes the key store's device: hashes, and hides them from KEYS", async () => {
    const service = new RedisService(redisTarget(redis.url, {}), () => undefined);
    try {
      assert.notEqual((await call(service, 'HGETALL', 'device:admin')).status, 200);
      assert.notEqual((await call(service, 'HSET', 'device:evil', 'key', 'k', 'cid', 'EVIL', 'level', '255')).status, 200);
      assert.notEqual((await call(service, 'DEL', 'other', 'device:admin')).status, 200);
      assert.equal(await outside.exists('device:evil'), 0, 'no device was made');
      const keys = await call(service, 'KEYS', '*');
      assert.deepEqual([...(keys.body as string[])].sort(), ['app:x', 'other']);
      assert.equal((await call(service, 'GET', 'other')).body, '2', 'other keys still work');
    } finally {
      await service.close();
    }
  });

  it('with a prefix, only keys under it', async () => {
    const service = new RedisService(redisTarget(redis.url, {}), () => undefined, 'app:');
    try {
      assert.equal((await call(service, 'GET', 'app:x')).body, '1');
      assert.notEqual((await call(service, 'GET', 'other')).status, 200);
      assert.deepEqual((await call(service, 'KEYS', '*')).body, ['app:x']);
    } finally {
      await service.close();
    }
  });
});

/** Opens /api/events; resolves with the status once the head arrives; the response stays open. */
function openFeed(port: number, token?: string, localAddress = '127.0.0.1', read = true): Promise<{ status: number; req: http.ClientRequest }> {
  return new Promise((resolve, reject) => {
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const req = http.get({ host: '127.0.0.1', port, path: '/api/events', headers, localAddress }, (res) => {
      if (read) res.resume();
      else res.socket.pause();
      resolve({ status: res.statusCode ?? 0, req });
    });
    req.on('error', reject);
  });
}

describe('live feed slots', () => {
  it('anonymous viewers have their own small cap; the admin always gets in', async () => {
    const server = await startServer({ adminToken: 'tok-123' });
    const open: http.ClientRequest[] = [];
    try {
      // Spread over addresses: each address has its own share of the anonymous places (next test).
      for (let i = 0; i < MAX_ANONYMOUS_FEED_CLIENTS; i++) {
        const feed = await openFeed(server.wsPort!, undefined, `127.0.0.${10 + Math.floor(i / MAX_ANONYMOUS_FEED_PER_ADDRESS)}`);
        open.push(feed.req);
        assert.equal(feed.status, 200);
      }
      const extra = await openFeed(server.wsPort!, undefined, '127.0.0.30');
      open.push(extra.req);
      assert.equal(extra.status, 503, 'one anonymous viewer too many');
      for (let i = 0; i < 40; i++) {
        const admin = await openFeed(server.wsPort!, 'tok-123');
        open.push(admin.req);
        assert.equal(admin.status, 200, `admin feed ${i + 1}`);
      }
    } finally {
      for (const req of open) req.destroy();
      await server.close();
    }
  });

  it('one address holds at most its share of the anonymous places, even with streams it never reads', async () => {
    // Before, eight paused streams from one address held every anonymous place for as long as they stayed open.
    const server = await startServer({ adminToken: 'tok-123' });
    const open: http.ClientRequest[] = [];
    try {
      for (let i = 0; i < MAX_ANONYMOUS_FEED_CLIENTS; i++) {
        const feed = await openFeed(server.wsPort!, undefined, '127.0.0.2', false);
        open.push(feed.req);
        assert.equal(feed.status, i < MAX_ANONYMOUS_FEED_PER_ADDRESS ? 200 : 503, `stream ${i + 1} from one address`);
      }
      const other = await openFeed(server.wsPort!, undefined, '127.0.0.3');
      open.push(other.req);
      assert.equal(other.status, 200, 'a viewer from another address gets in');
    } finally {
      for (const req of open) req.destroy();
      await server.close();
    }
  });
});

describe('logs', () => {
  const pool = new ClientPool();
  after(async () => {
    await pool.closeAll();
  });

  it('escapes control characters in client-supplied strings: no forged lines, no terminal escapes', async () => {
    const lines: string[] = [];
    const server = await startServer({ auth: { param: 'real.key-real.REAL.3' }, authFailDelay: 10, log: (line) => lines.push(line) });
    try {
      const peer = await openPeer(pool, server, 'cong');
      // An 8-byte id with a line break and an escape sequence in it.
      peer.wire.send(peer.authReq('x\n\x1b[2J', 'nope'));
      assert.equal((await peer.wire.next(2000)).toString('hex'), 'b3');
      const c = await pool.ready('cong', server.congPort!);
      c.send(Buffer.concat([Buffer.from([MSG.CLOSE]), Buffer.from('bye\n#9 cong 1.2.3.4 login ok: cid ADMIN did adm level 255')]));
      await c.waitClosed(2000);
      await waitFor(() => lines.some((line) => line.includes('client CLOSE')), 2000, 'the close line');
      const raw = (line: string): boolean => [...line].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);
      for (const line of lines) assert.ok(!raw(line), `raw control character in ${JSON.stringify(line)}`);
      assert.ok(lines.some((line) => line.includes('x\\x0a\\x1b[2J')), lines.join('\n'));
      assert.equal(escapeControl('a\u202eb\r\n'), 'a\\u202eb\\x0d\\x0a');
    } finally {
      await server.close();
    }
  });

  it('-o masks -e keys, the admin token and passwords', () => {
    const options = resolveOptions({
      port: 0,
      auth: { param: 'dev1.secret-one.CID1.3,dev2.secret-two.CID2.255', redis: 'redis://user:pw-xyz@host:6379' },
      adminToken: 'tok-secret',
      tls: { cert: 'c.pem', key: 'k.pem', passphrase: 'pass-secret' },
    });
    const { log: _log, clock: _clock, ...printable } = options;
    const text = JSON.stringify(maskSecrets(printable));
    for (const secret of ['secret-one', 'secret-two', 'pw-xyz', 'tok-secret', 'pass-secret']) assert.ok(!text.includes(secret), `${secret} printed`);
    assert.ok(text.includes('dev1.***.CID1.3'), text);
  });
});

describe('io-server output', () => {
  const BIN = join(process.cwd(), 'bin', 'io-server.js');

  /** Runs io-server until `until` matches its output (or the deadline), then stops it; returns what it printed. */
  async function runCli(args: string[], until: RegExp, then?: (child: ChildProcess) => void, untilAfter?: RegExp): Promise<string> {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const seen = (test: RegExp): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${test} in: ${out}`)), 45_000);
        const check = (): void => {
          if (!test.test(out)) return;
          clearTimeout(timer);
          resolve();
        };
        child.stdout!.on('data', check);
        child.stderr!.on('data', check);
        check();
      });
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      await seen(until);
      if (then) {
        // The banner is printed just before the signal handlers are installed.
        await new Promise((resolve) => setTimeout(resolve, 500));
        then(child);
        await seen(untilAfter!);
      }
    } finally {
      child.kill('SIGKILL');
    }
    return out;
  }

  it('-o prints no -e key and no admin token; --login-fail-rate and --login-fail-burst set the per-address login throttle', async () => {
    const out = await runCli(
      ['-L', '0', '--host', '127.0.0.1', '-o', '-e', 'dev1.secret-key-1.CID1.3', '--admin-token', 'tok-very-secret', '--login-fail-rate', '5', '--login-fail-burst', '20'],
      /services:/,
    );
    assert.ok(!out.includes('secret-key-1'), out);
    assert.ok(!out.includes('tok-very-secret'), out);
    assert.ok(out.includes('dev1.***.CID1.3'), out);
    assert.match(out, /addressRate: 5/);
    assert.match(out, /addressBurst: 20/);
    assert.match(out, /deviceBurst: 5/, 'the device limits keep their defaults');
  });

  it('a failed SIGHUP reload says it failed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iosig-hup-'));
    try {
      const file = join(dir, 'keys.json');
      writeFileSync(file, JSON.stringify([['a', 'key-a', 'A', 3]]));
      const out = await runCli(
        ['-L', '0', '--host', '127.0.0.1', '-d', file],
        /Local:/,
        (child) => {
          writeFileSync(file, '{ broken');
          child.kill('SIGHUP');
        },
        /SIGHUP/,
      );
      assert.match(out, /SIGHUP: reload FAILED/);
      assert.doesNotMatch(out, /SIGHUP: key store reloaded/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
