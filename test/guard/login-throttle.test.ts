// Issue 9 item 7: login brute force. 200 connections from one address guessing keys as fast as the server
// answers reach the key check at most ~10 times a second, while a device on another address logs in at once.
// Both login dialects pass the same throttle; failures are counted by reason.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientPool } from '../kit/raw-client.js';
import { startServer, type IosigServer } from '../kit/server.js';
import { request, parsePrometheus, sampleValue } from '../http/support.js';
import { type Peer, drained, openMemoryPeer, openPeer } from '../kit/peer.js';
import { ManualClock } from '../kit/manual-clock.js';
import { waitFor } from '../kit/wait.js';
import { BohoSession } from '../../src/crypto/boho.js';
import { MSG } from '../../src/protocol/codes.js';
import { DEFAULT_LOGIN_LIMITS } from '../../src/guard/login-guard.js';
import type { KeyStore } from '../../src/auth/key-store.js';
import { inside } from '../kit/inside.js';

const DEVICES = Array.from({ length: 50 }, (_, i) => `v${i}.key-v${i}.V${i}.3`);
const PARAM = [...DEVICES, 'legit.key-legit.LEGIT.3', 'legitc.key-legitc.LEGITC.3', 'old.key-old.OLD.3'].join(',');
const ATTACKERS = 200;
/** The attack runs on a manual clock, in lockstep rounds: ROUNDS guesses per attacker, one every ROUND_MS. */
const ROUNDS = 16;
const ROUND_MS = 200;
const FAIL_DELAY = 20;

/**
 * One guess from every peer at the same instant: once the server has set every refusal's AUTH_FAIL timer
 * (throttled or key-checked alike), the delay passes and each peer reads its refusal. `meanwhile` runs while
 * the refusals are pending, i.e. in the middle of the attack.
 */
async function round(
  clock: ManualClock,
  peers: Peer[],
  guess: (p: Peer, i: number) => Buffer,
  meanwhile?: () => Promise<void>,
): Promise<void> {
  const before = clock.pending;
  for (const [i, p] of peers.entries()) p.wire.send(guess(p, i));
  await waitFor(() => clock.pending === before + peers.length, 5000, 'every guess refused');
  await meanwhile?.();
  clock.advance(FAIL_DELAY);
  const replies = await Promise.all(peers.map((p) => p.wire.next(5000)));
  for (const reply of replies) assert.ok(['b3', 'b4'].includes(reply.toString('hex')), 'every guess gets AUTH_FAIL');
}

describe('login brute-force throttle', () => {
  let server: IosigServer;
  const clock = new ManualClock();
  const pool = new ClientPool();

  before(async () => {
    server = await startServer({ auth: { param: PARAM }, authFailDelay: FAIL_DELAY, clock });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(async () => {
    await server.close();
  });

  it('holds 200 connections from one address to its burst + 2 key checks/s while another address logs in at once', async () => {
    const attackers = await Promise.all(
      Array.from({ length: ATTACKERS }, (_, i) => openMemoryPeer(pool, server, i % 2 === 0 ? 'cong' : 'ws')),
    );
    const checkedBefore = inside(server).stats.authFailByReason.wrong_key + inside(server).stats.authFailByReason.unknown_id;
    const throttledBefore = inside(server).stats.authFailByReason.throttled_address;
    const started = clock.now();
    const loginTimes: number[] = [];
    // Halfway through, two real devices log in from other addresses: 127.0.0.2 over CongSocket, and a
    // client behind the trusted proxy (127.0.0.1) over WebSocket, while 200 refusals are pending.
    const legitLogins = async (): Promise<void> => {
      const cong = await openPeer(pool, server, 'cong', { localAddress: '127.0.0.2' });
      let t0 = Date.now();
      cong.wire.send(cong.authReq('legitc', 'key-legitc'));
      await cong.expectAuthOk(2000);
      loginTimes.push(Date.now() - t0);
      const ws = await openPeer(pool, server, 'ws', { headers: { 'x-forwarded-for': '192.0.2.44' } });
      t0 = Date.now();
      ws.wire.send(ws.authReq('legit', 'key-legit'));
      await ws.expectAuthOk(2000);
      loginTimes.push(Date.now() - t0);
    };
    for (let r = 0; r < ROUNDS; r++) {
      if (r > 0) clock.advance(ROUND_MS - FAIL_DELAY);
      const id = (i: number): string => `v${(r * ATTACKERS + i) % 50}`;
      await round(clock, attackers, (p, i) => p.authReq(id(i), 'not-the-key'), r === ROUNDS / 2 ? legitLogins : undefined);
    }
    const tries = ATTACKERS * ROUNDS;
    // The last round's guesses were made FAIL_DELAY before now.
    const seconds = (clock.now() - FAIL_DELAY - started) / 1000;
    const checked = inside(server).stats.authFailByReason.wrong_key + inside(server).stats.authFailByReason.unknown_id - checkedBefore;
    const throttled = inside(server).stats.authFailByReason.throttled_address - throttledBefore;
    const { addressBurst, addressRate } = DEFAULT_LOGIN_LIMITS;
    console.log(
      `# ${tries} guesses from ${ATTACKERS} connections over ${seconds.toFixed(2)} s: ${checked} reached the key check, ` +
        `${throttled} throttled; other-address logins took ${loginTimes.join(' and ')} ms`,
    );
    assert.equal(checked + throttled, tries, 'every guess is either key-checked or throttled');
    assert.ok(checked >= addressBurst + Math.floor(addressRate * seconds) - 1, `the bucket refills (${checked} key checks)`);
    assert.ok(checked <= addressBurst + addressRate * seconds + 1, `${checked} key checks in ${seconds} s`);
    assert.ok(checked / seconds <= 10, `${(checked / seconds).toFixed(1)} key checks/s from one address`);
    assert.equal(loginTimes.length, 2);
    for (const ms of loginTimes) assert.ok(ms < 1000, `a device on another address logged in in ${ms} ms`);

    const metrics = parsePrometheus((await request(server.wsPort!, '/metrics')).body);
    assert.ok(sampleValue(metrics, 'iosig_login_failures_total{reason="throttled_address"}') >= throttled);
    assert.ok(sampleValue(metrics, 'iosig_login_failures_total{reason="wrong_key"}') >= 1);
  });

  it('limits guesses against one device id from many addresses, in both login dialects', async () => {
    const checkedBefore = inside(server).stats.authFailByReason.wrong_key;
    const started = clock.now();
    // Twenty spoofed client addresses behind the trusted proxy, each guessing the key of "old".
    const peers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => openMemoryPeer(pool, server, 'ws', { headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } })),
    );
    for (let r = 0; r < 8; r++) {
      if (r > 0) clock.advance(ROUND_MS - FAIL_DELAY);
      await round(clock, peers, (p) => p.authReq('old', 'not-the-key'));
    }
    // The 1.x dialect: nonce request [B0 00], proof under B2, failure B4.
    const legacy = await openMemoryPeer(pool, server, 'cong', { localAddress: '127.0.0.3' });
    const throttledBefore = inside(server).stats.authFailByReason.throttled_device;
    let legacyFails = 0;
    for (let i = 0; i < 5; i++) {
      legacy.wire.send(Buffer.from([0xb0, 0x00]));
      const nonce = await legacy.wire.next(2000);
      assert.equal(nonce[0], 0xb1);
      const hello = Buffer.concat([Buffer.from([MSG.SERVER_TIME_NONCE]), nonce.subarray(1)]);
      const proof = new BohoSession().authReq('old', 'still-wrong', hello)!;
      proof[0] = 0xb2;
      await round(clock, [legacy], () => proof);
      legacyFails++;
    }
    const seconds = (clock.now() - started) / 1000;
    const checked = inside(server).stats.authFailByReason.wrong_key - checkedBefore;
    console.log(`# "old" guessed from 21 addresses over ${seconds.toFixed(2)} s: ${checked} key checks, ${legacyFails} 1.x refusals`);
    assert.ok(checked >= DEFAULT_LOGIN_LIMITS.deviceBurst, `the device burst is reached (${checked})`);
    assert.ok(checked <= DEFAULT_LOGIN_LIMITS.deviceBurst + DEFAULT_LOGIN_LIMITS.deviceRate * seconds + 1, `${checked} key checks on one id`);
    assert.equal(inside(server).stats.authFailByReason.throttled_device - throttledBefore, 5, 'the 1.x proofs were throttled too');
  });

  it('caps logins still being decided per address', async () => {
    const slow = await startServer({
      auth: { param: PARAM },
      authFailDelay: 20,
      loginLimits: { pendingPerAddress: 2, addressBurst: 1000, deviceBurst: 1000 },
    });
    // A key store that never answers keeps every login pending.
    inside(slow).keyStore = { lookup: () => new Promise(() => undefined), close: async () => undefined } as unknown as KeyStore;
    try {
      const peers = await Promise.all(Array.from({ length: 4 }, () => openPeer(pool, slow, 'cong')));
      for (const p of peers) p.wire.send(p.authReq('legit', 'key-legit'));
      const replies = await Promise.allSettled(peers.map((p) => p.wire.next(1000)));
      const fails = replies.filter((r) => r.status === 'fulfilled' && r.value.toString('hex') === 'b3').length;
      assert.equal(fails, 2, 'two pending, the other two refused at once');
      assert.equal(inside(slow).stats.authFailByReason.pending_cap, 2);
    } finally {
      await pool.closeAll();
      await slow.close();
    }
  });
});
