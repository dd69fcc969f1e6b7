// Issue 16 item 3, on a real `io-server --workers 2` host over a real redis-server: the host keeps one login
// throttle whichever worker takes a connection.
import { afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redisSkipReason } from '../kit/redis-server.js';
import { ClientPool, type RawClientOptions, type Transport } from '../kit/raw-client.js';
import { Peer } from '../kit/peer.js';
import { MSG } from '../../src/protocol/codes.js';
import { DEFAULT_LOGIN_LIMITS } from '../../src/guard/login-guard.js';
import { type WorkerHost, metricValue, workerHostFixture } from './workers-support.js';

/**
 * How long the guessing lasts: long enough that one throttle per worker would show (twice the burst, 20 key checks
 * from one address and 10 on one id, against at most 14 and 8 for the host's one throttle), short enough for the suite.
 */
const GUESS_MS = 1500;
const DEVICES = Array.from({ length: 5 }, (_, i) => `v${i}.key-v${i}.V${i}.3`).join(',');

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
    const seconds = await guess(attackers, (i, n) => `nobody-${i}-${n}`, GUESS_MS);
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
    const seconds = await guess(guessers, () => 'v1', GUESS_MS);
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
