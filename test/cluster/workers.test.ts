// Issue 16 items 2 and 3, on a real `io-server --workers 2` host (a primary and two worker processes over a real
// redis-server): the host keeps one connection budget and one login throttle whichever worker takes a
// connection, and a primary whose workers keep dying backs off and keeps serving; it never exits 0 on its own.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { redisSkipReason } from '../kit/redis-server.js';
import { ClientPool, type RawClient, type RawClientOptions, type Transport } from '../kit/raw-client.js';
import { Peer } from '../kit/peer.js';
import { MSG } from '../../src/protocol/codes.js';
import { DEFAULT_LOGIN_LIMITS } from '../../src/guard/login-guard.js';
import { type WorkerHost, metricValue, workerHostFixture } from './workers-support.js';
import { countGetIn, getsIn } from '../kit/gets-in.js';
import { CHILD_PROCESS_DEADLINE_MS, sleep, waitFor, withTimeout } from '../kit/wait.js';
import { readFileSync } from 'node:fs';
import { makeDevicePki, type DevicePki } from '../kit/device-pki.js';
import type { WireTls } from '../kit/wire.js';

const PER_ADDRESS = 50;
const GLOBAL = 130;
const DEVICES = Array.from({ length: 5 }, (_, i) => `v${i}.key-v${i}.V${i}.3`).join(',');

async function closeAll(clients: RawClient[]): Promise<void> {
  await Promise.all(clients.splice(0).map((c) => c.close(500)));
}

/**
 * Connections from `address` that get in, one after another, until `n` did (or 200 tries): places come back a
 * moment after their connections close (the worker tells the primary over IPC).
 */
async function getInAgain(kind: Transport, port: number, address: string, n: number, keep: RawClient[], opts: RawClientOptions = {}): Promise<number> {
  let inside = 0;
  for (let tries = 0; inside < n && tries < 200; tries++) {
    if (await getsIn(kind, port, address, keep, opts)) inside++;
    else await sleep(20);
  }
  return inside;
}

describe('io-server --workers 2: one budget per address for the whole host', { skip: redisSkipReason() }, () => {
  // The CongSocket clients below stay silent after the greeting for the whole block: no opening deadline cuts them.
  const fixture = workerHostFixture('caps', ['--max-connections-per-address', String(PER_ADDRESS), '--max-connections', String(GLOBAL), '--opening-timeout', '600000']);
  let host: WorkerHost;
  /** Connections from 127.0.0.2 (WebSocket), 127.0.0.3 (CongSocket) and others, refused ones included. */
  const fromTwo: RawClient[] = [];
  const fromThree: RawClient[] = [];
  const open: RawClient[] = [];

  before(() => {
    host = fixture.host;
  });
  after(() => Promise.all([closeAll(open), closeAll(fromTwo), closeAll(fromThree)]));

  it('lets exactly 50 of 150 connections from one address in, on each transport', async () => {
    const ws = await countGetIn('ws', host.wsPort, '127.0.0.2', 150, fromTwo);
    const cong = await countGetIn('cong', host.congPort, '127.0.0.3', 150, fromThree);
    console.log(`# --workers 2 --max-connections-per-address ${PER_ADDRESS}: ${ws} of 150 WebSocket and ${cong} of 150 CongSocket connections got in`);
    assert.equal(ws, PER_ADDRESS, 'WebSocket connections from one address');
    assert.equal(cong, PER_ADDRESS, 'CongSocket connections from one address');
    assert.equal(await host.sum('iosig_connections_refused_total', { cap: 'address' }), 200, 'the refusals, summed over the workers');
    assert.ok(/node="caps-w0"/.test((await host.scrapeEach()).join('')), 'both workers answered');
  });

  it('holds the global cap for the host, not per worker', async () => {
    // 100 are open from the test above; the host takes 30 more, from any address.
    let inside = 0;
    for (let i = 0; i < 60; i++) {
      if (await getsIn(i % 2 ? 'ws' : 'cong', i % 2 ? host.wsPort : host.congPort, `127.0.1.${i + 1}`, open)) inside++;
    }
    assert.equal(inside, GLOBAL - 2 * PER_ADDRESS);
    assert.equal(await host.sum('iosig_connections_refused_total', { cap: 'global' }), 30);
  });

  it('frees the places of closed connections and of a worker that died', async () => {
    // Ten WebSocket connections from 127.0.0.2 leave: ten more get in, not one more.
    const leaving = fromTwo.filter((c) => !c.closed).slice(0, 10);
    await Promise.all(leaving.map((c) => c.close(500)));
    assert.equal(await getInAgain('ws', host.wsPort, '127.0.0.2', 10, fromTwo), 10, 'the freed places are taken again');
    assert.equal(await getsIn('ws', host.wsPort, '127.0.0.2', fromTwo), false, 'and the cap holds again');

    // A worker killed with its connections: its places come back to the host.
    const live = fromThree.filter((c) => !c.closed);
    await host.killWorker();
    await waitFor(() => live.some((c) => c.closed), 5000, 'the dead worker\'s connections to close');
    await sleep(500);
    const lostCong = live.filter((c) => c.closed).length;
    assert.ok(lostCong > 0, `the dead worker held CongSocket connections from 127.0.0.3 (${lostCong})`);
    // CongSocket from 127.0.0.3: exactly the ones the dead worker held get in again, served by the live worker.
    const congBack = await countGetIn('cong', host.congPort, '127.0.0.3', lostCong + 10, fromThree, 5);
    assert.equal(congBack, lostCong, 'the dead worker\'s CongSocket places are free again, no more');
    await host.waitAllServing(3);
  });
});

describe('io-server --workers 2 under mutual TLS: a socket counted from its accept takes one host place, and gives it back', { skip: redisSkipReason() }, () => {
  const CAP = 5;
  const HANDSHAKE_MS = 2000;
  let pki: DevicePki | undefined;
  let tls: WireTls;
  before(() => {
    pki = makeDevicePki(['cl']);
    const client = pki.device('cl');
    tls = { ca: readFileSync(pki.ca), cert: readFileSync(client.cert), key: readFileSync(client.key) };
  });
  // Silent CongSocket clients below must outlive the block; a socket that never starts its handshake must not.
  const fixture = workerHostFixture('mtls', () => [
    ...['--tls-cert', pki!.serverCert, '--tls-key', pki!.serverKey, '--tls-ca', pki!.ca],
    ...['--max-connections-per-address', String(CAP), '--opening-timeout', '600000', '--handshake-timeout', String(HANDSHAKE_MS)],
  ]);
  const held: RawClient[] = [];
  after(async () => {
    await closeAll(held);
    pki?.remove();
  });

  // CongSocket over TLS: counted in the worker from the TCP accept, the host's place taken after the handshake.
  // WebSocket behind the mutual-TLS front: counted in the worker from the accept, the host's place taken at the
  // upgrade. Either way one place per connection, given back once when it closes.
  for (const [kind, address] of [['cong', '127.0.0.4'], ['ws', '127.0.0.5']] as const) {
    it(`${kind}: ${CAP} of 12 from one address get in over both workers, and each closed one frees exactly one place`, async () => {
      const host = fixture.host;
      host.metricsTls = tls;
      const port = kind === 'ws' ? host.wsPort : host.congPort;
      const refusedBefore = await host.sum('iosig_connections_refused_total', { cap: 'address' });
      const first: RawClient[] = [];
      const inside = await countGetIn(kind, port, address, 12, first, 12, { tls });
      held.push(...first);
      assert.equal(inside, CAP, 'the host\'s per-address cap, not one per worker');
      assert.equal(await host.sum('iosig_connections_refused_total', { cap: 'address' }) - refusedBefore, 12 - CAP, 'the refusals, summed over the workers');

      // Two leave: exactly two get in again (a place given back twice would let four in, one never given back none).
      await Promise.all(first.filter((c) => !c.closed).slice(0, 2).map((c) => c.close(500)));
      assert.equal(await getInAgain(kind, port, address, 2, held, { tls }), 2, 'the freed places are taken again');
      assert.equal(await getsIn(kind, port, address, held, { tls }), false, 'and the cap holds again');
    });
  }

  it(`cong: sockets that never start their TLS handshake are closed after --handshake-timeout and leave no place behind`, async () => {
    const host = fixture.host;
    host.metricsTls = tls;
    const silent = await Promise.all(
      Array.from({ length: CAP }, () =>
        new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect({ port: host.congPort, host: '127.0.0.1', localAddress: '127.0.0.6' }, () => resolve(socket));
          socket.once('error', reject);
          socket.resume(); // reads to the end, so the server's close is seen
        }),
      ),
    );
    const closed = Promise.all(silent.map((socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()))));
    await withTimeout(closed, HANDSHAKE_MS + 5000, 'the silent sockets to be closed');
    const timeouts = await host.sum('iosig_opening_timeouts_total', { stage: 'tls_handshake' });
    assert.ok(timeouts >= CAP, `counted as handshake timeouts (${timeouts})`);
    assert.equal(await getInAgain('cong', host.congPort, '127.0.0.6', CAP, held, { tls }), CAP, 'the address has all its places');
  });
});

describe('io-server --workers 2: one login throttle for the whole host', { skip: redisSkipReason() }, () => {
  const fixture = workerHostFixture('logins', ['-e', DEVICES, '--auth-fail-delay', '20']);
  let host: WorkerHost;
  const pool = new ClientPool();

  before(() => {
    host = fixture.host;
  });
  afterEach(() => pool.closeAll());

  /** Key checks and throttled refusals so far, summed over both workers. */
  async function outcomes(throttled: 'throttled_address' | 'throttled_device'): Promise<{ checked: number; throttled: number }> {
    const bodies = await host.scrapeEach();
    const sum = (reason: string): number => bodies.reduce((n, body) => n + metricValue(body, 'iosig_login_failures_total', { reason }), 0);
    return { checked: sum('wrong_key') + sum('unknown_id'), throttled: sum(throttled) };
  }

  /** Peers guessing as fast as AUTH_FAIL comes back, for `ms`; returns how long the guessing lasted (s). */
  async function guess(peers: Peer[], id: (i: number, n: number) => string, ms: number): Promise<number> {
    const started = Date.now();
    let last = started;
    await Promise.all(
      peers.map(async (peer, i) => {
        for (let n = 0; Date.now() - started < ms; n++) {
          last = Math.max(last, Date.now());
          peer.wire.send(peer.authReq(id(i, n), 'not-the-key'));
          const reply = await peer.wire.next(5000);
          assert.equal(reply[0], 0xb3, 'every guess gets AUTH_FAIL');
        }
      }),
    );
    return (last - started) / 1000;
  }

  async function peers(n: number, opts: (i: number) => RawClientOptions, only?: Transport): Promise<Peer[]> {
    const all: Peer[] = [];
    for (let i = 0; i < n; i++) {
      const kind = only ?? (i % 2 ? 'ws' : 'cong');
      const raw = await pool.open(kind, kind === 'ws' ? host.wsPort : host.congPort, opts(i));
      const peer = new Peer(raw);
      peer.raw = raw;
      await peer.greet();
      all.push(peer);
    }
    return all;
  }

  it('admits the single-process number of key checks from one address, over both workers', async () => {
    const attackers = await peers(20, () => ({ localAddress: '127.0.0.5' }));
    const before = await outcomes('throttled_address');
    const seconds = await guess(attackers, (i, n) => `nobody-${i}-${n}`, 3000);
    const after = await outcomes('throttled_address');
    const checked = after.checked - before.checked;
    const throttled = after.throttled - before.throttled;
    const { addressBurst, addressRate } = DEFAULT_LOGIN_LIMITS;
    const allowed = addressBurst + addressRate * seconds;
    console.log(`# 20 connections on two workers guessing for ${seconds.toFixed(2)} s: ${checked} key checks, ${throttled} throttled (one process allows ${allowed.toFixed(1)})`);
    assert.ok(throttled > checked, 'most guesses are throttled');
    assert.ok(checked <= allowed + 1, `${checked} key checks, one process allows ${allowed.toFixed(1)}`);
    assert.ok(checked >= addressBurst, `the burst is checked (${checked})`);
  });

  it('admits the single-process number of key checks on one device id from many addresses', async () => {
    // Twenty client addresses behind the trusted proxy (127.0.0.1), all guessing the key of v1 over WebSocket.
    const guessers = await peers(20, (i) => ({ headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } }), 'ws');
    const before = await outcomes('throttled_device');
    const seconds = await guess(guessers, () => 'v1', 3000);
    const after = await outcomes('throttled_device');
    const checked = after.checked - before.checked;
    const { deviceBurst, deviceRate } = DEFAULT_LOGIN_LIMITS;
    const allowed = deviceBurst + deviceRate * seconds;
    console.log(`# "v1" guessed from 20 addresses on two workers for ${seconds.toFixed(2)} s: ${checked} key checks (one process allows ${allowed.toFixed(1)})`);
    assert.ok(after.throttled > before.throttled, 'guesses on the id are throttled');
    assert.ok(checked <= allowed + 1, `${checked} key checks on one id`);
    assert.ok(checked >= deviceBurst, `the id's burst is checked (${checked})`);
  });

  it('still logs a device in on either worker', async () => {
    for (let i = 0; i < 4; i++) {
      const [peer] = await peers(1, () => ({ localAddress: `127.0.2.${i + 1}` }));
      peer!.wire.send(peer!.authReq('v3', 'key-v3'));
      assert.equal(await peer!.expectAuthOk(), 3);
      peer!.wire.send(Buffer.from([MSG.CID_REQ]));
      await peer!.nextPlain();
      await pool.closeAll();
    }
  });
});

describe('io-server --workers 2: a crash loop backs off and the host keeps serving', { skip: redisSkipReason() }, () => {
  const fixture = workerHostFixture('loop', ['--worker-restart-max', '250']);
  let host: WorkerHost;
  const pool = new ClientPool();

  before(() => {
    host = fixture.host;
  });
  afterEach(() => pool.closeAll());

  /** The workers' /metrics once every one shows `ok` (the primary tells them its figures over IPC). */
  async function figuresOnEveryWorker(ok: (body: string) => boolean): Promise<string[]> {
    const end = Date.now() + 5000;
    for (;;) {
      const bodies = await host.scrapeEach();
      if (bodies.every(ok) || Date.now() > end) return bodies;
      await sleep(50);
    }
  }

  async function servesBothPorts(): Promise<void> {
    try {
      const ws = await pool.ready('ws', host.wsPort);
      const cong = await pool.ready('cong', host.congPort);
      assert.ok(ws.cid && cong.cid);
    } catch (err) {
      await sleep(200);
      const exited = host.node.exited;
      throw new Error(`the host did not serve both ports (${String(err)}); the primary ${exited ? `exited with ${exited.code ?? exited.signal}` : 'is alive'}:\n${host.lines.slice(-4).join('\n')}`);
    } finally {
      await pool.closeAll();
    }
  }

  it('passes SIGHUP (reload the keys) on to the workers instead of dying of it', async () => {
    const pids = host.workerPids();
    process.kill(host.node.pid, 'SIGHUP');
    await waitFor(() => host.node.exited !== null || host.lines.some((line) => /SIGHUP passed to 2 workers/.test(line)), 5000, 'the SIGHUP to be handled');
    assert.equal(host.node.exited, null, 'the primary is alive');
    await sleep(300);
    assert.deepEqual(host.workerPids(), pids, 'the same workers serve on');
    await servesBothPorts();
  });

  it('survives eleven worker deaths in a row, serving with the live worker meanwhile', async () => {
    const started = Date.now();
    for (let death = 1; death <= 11; death++) {
      // Both serve; the older one dies (so the two take turns), and the other serves both ports meanwhile.
      await host.waitAllServing(1 + death);
      await host.killWorker();
      await servesBothPorts();
      assert.equal(host.node.exited, null, `the primary is alive after death ${death}`);
    }
    console.log(`# 11 worker deaths in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await host.waitAllServing(2 + 11);
    await servesBothPorts();
    assert.equal(host.node.exited, null, 'the primary is alive');
    assert.ok(host.lines.some((line) => /death \d+ in a row: backing off/.test(line)), 'the log says it backs off');
    assert.ok(!host.lines.some((line) => /stopping/.test(line)), host.lines.join('\n'));
    // The primary's figures, on every worker's /metrics.
    const bodies = await figuresOnEveryWorker((body) => metricValue(body, 'iosig_workers', { state: 'up' }) === 2);
    for (const body of bodies) {
      assert.equal(metricValue(body, 'iosig_worker_restarts_total'), 11);
      assert.equal(metricValue(body, 'iosig_workers', { state: 'wanted' }), 2);
    }
  });

  it('keeps trying when every worker dies, and serves again', async () => {
    const starts = host.servingStarts;
    await Promise.all(host.workerPids().map((pid) => host.killWorker(pid)));
    await waitFor(() => host.lines.some((line) => /no worker is serving/.test(line)), 5000, 'the primary to say nobody serves');
    await host.waitAllServing(starts + 2);
    await servesBothPorts();
    assert.equal(host.node.exited, null, 'the primary is alive');
    const bodies = await figuresOnEveryWorker((body) => metricValue(body, 'iosig_workers', { state: 'up' }) === 2);
    for (const body of bodies) assert.equal(metricValue(body, 'iosig_worker_restarts_total'), 13);
  });

  it('exits with the workers\' code, not 0, when no worker can serve at all', async () => {
    // A port held without SO_REUSEPORT: every worker fails to listen (exit 1) before serving.
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const bin = new URL('../../../bin/io-server.js', import.meta.url).pathname;
      const child = spawn(process.execPath, [bin, '-l', String(port), '--host', '127.0.0.1', '--cluster', fixture.redis.url, '--workers', '2'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      const code = await withTimeout(new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c))), CHILD_PROCESS_DEADLINE_MS, 'the primary to exit').finally(
        () => child.kill('SIGKILL'),
      );
      assert.equal(code, 1, output);
      assert.match(output, /could not start serving/);
    } finally {
      blocker.close();
    }
  });
});
