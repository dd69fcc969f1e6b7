// Issue 9 item 7: login brute force. 200 connections from one address guessing keys as fast as the server
// answers reach the key check at most ~10 times a second, while a device on another address logs in at once.
// Both login dialects pass the same throttle; failures are counted by reason.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientPool } from '../helpers/raw-client.js';
import { startServer, type IosigServer } from '../integration/support.js';
import { request, parsePrometheus, sampleValue } from '../http/support.js';
import { type Peer, drained, openPeer } from './../security/support.js';
import { BohoSession } from '../../src/crypto/boho.js';
import { MSG } from '../../src/protocol/codes.js';
import { DEFAULT_LOGIN_LIMITS } from '../../src/connection/login-guard.js';

const DEVICES = Array.from({ length: 50 }, (_, i) => `v${i}.key-v${i}.V${i}.3`);
const PARAM = [...DEVICES, 'legit.key-legit.LEGIT.3', 'legitc.key-legitc.LEGITC.3', 'old.key-old.OLD.3'].join(',');
const ATTACKERS = 200;
const ATTACK_MS = 3000;

/** One attacker connection: wrong keys for rotating ids, as fast as AUTH_FAIL comes back. */
async function guessLoop(peer: Peer, deadline: number, offset: number, ids: (n: number) => string): Promise<number> {
  let tries = 0;
  while (Date.now() < deadline && !peer.wire.closed) {
    peer.wire.send(peer.authReq(ids(offset + tries), 'not-the-key'));
    const reply = await peer.wire.next(5000);
    assert.equal(reply.toString('hex'), 'b3', 'every guess is answered with AUTH_FAIL');
    tries++;
  }
  return tries;
}

describe('login brute-force throttle', () => {
  let server: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    server = await startServer({ auth: { param: PARAM }, authFailDelay: 20 });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(async () => {
    await server.close();
  });

  it('holds 200 connections from one address to <= 10 key checks/s while another address logs in at once', async () => {
    const attackers: Peer[] = [];
    for (let i = 0; i < ATTACKERS; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, j) => openPeer(pool, server, (i + j) % 2 === 0 ? 'cong' : 'ws')),
      );
      attackers.push(...batch);
    }
    const checkedBefore = server.counters.authFailByReason.wrong_key + server.counters.authFailByReason.unknown_id;
    const throttledBefore = server.counters.authFailByReason.throttled_address;
    const started = Date.now();
    const deadline = started + ATTACK_MS;
    const attack = Promise.all(attackers.map((p, i) => guessLoop(p, deadline, i, (n) => `v${n % 50}`)));

    // Halfway through, two real devices log in from other addresses: 127.0.0.2 over CongSocket, and a
    // client behind the trusted proxy (127.0.0.1) over WebSocket.
    await new Promise((resolve) => setTimeout(resolve, ATTACK_MS / 2));
    const loginTimes: number[] = [];
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

    const tries = (await attack).reduce((a, b) => a + b, 0);
    const seconds = (Date.now() - started) / 1000;
    const checked = server.counters.authFailByReason.wrong_key + server.counters.authFailByReason.unknown_id - checkedBefore;
    const throttled = server.counters.authFailByReason.throttled_address - throttledBefore;
    const rate = checked / seconds;
    console.log(
      `# ${tries} guesses from ${ATTACKERS} connections in ${seconds.toFixed(2)} s: ${checked} reached the key check ` +
        `(${rate.toFixed(1)}/s), ${throttled} throttled; other-address logins took ${loginTimes.join(' and ')} ms`,
    );
    assert.ok(tries > 200, `the attack ran (${tries} guesses)`);
    assert.ok(rate <= 10, `${rate.toFixed(1)} key checks/s from one address`);
    assert.ok(checked <= DEFAULT_LOGIN_LIMITS.addressBurst + DEFAULT_LOGIN_LIMITS.addressRate * seconds + 1, `${checked} key checks`);
    for (const ms of loginTimes) assert.ok(ms < 1000, `a device on another address logged in in ${ms} ms`);

    const metrics = parsePrometheus((await request(server.wsPort!, '/metrics')).body);
    assert.ok(sampleValue(metrics, 'iosig_login_failures_total{reason="throttled_address"}') >= throttled);
    assert.ok(sampleValue(metrics, 'iosig_login_failures_total{reason="wrong_key"}') >= 1);
  });

  it('limits guesses against one device id from many addresses, in both login dialects', async () => {
    const checkedBefore = server.counters.authFailByReason.wrong_key;
    const started = Date.now();
    // Twenty spoofed client addresses behind the trusted proxy, each guessing the key of "old".
    const peers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => openPeer(pool, server, 'ws', { headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } })),
    );
    await Promise.all(peers.map((p) => guessLoop(p, started + 1500, 0, () => 'old')));
    // The 1.x dialect: nonce request [B0 00], proof under B2, failure B4.
    const legacy = await openPeer(pool, server, 'cong', { localAddress: '127.0.0.3' });
    let legacyFails = 0;
    for (let i = 0; i < 5; i++) {
      legacy.wire.send(Buffer.from([0xb0, 0x00]));
      const nonce = await legacy.wire.next(2000);
      assert.equal(nonce[0], 0xb1);
      const hello = Buffer.concat([Buffer.from([MSG.SERVER_TIME_NONCE]), nonce.subarray(1)]);
      const proof = new BohoSession().authReq('old', 'still-wrong', hello)!;
      proof[0] = 0xb2;
      legacy.wire.send(proof);
      const reply = await legacy.wire.next(2000);
      assert.equal(reply.toString('hex'), 'b4');
      legacyFails++;
    }
    const seconds = (Date.now() - started) / 1000;
    const checked = server.counters.authFailByReason.wrong_key - checkedBefore;
    console.log(`# "old" guessed from 21 addresses for ${seconds.toFixed(2)} s: ${checked} key checks, ${legacyFails} 1.x refusals`);
    assert.ok(checked <= DEFAULT_LOGIN_LIMITS.deviceBurst + DEFAULT_LOGIN_LIMITS.deviceRate * seconds + 1, `${checked} key checks on one id`);
    assert.ok(server.counters.authFailByReason.throttled_device > 0, 'the 1.x proofs were throttled too');
  });

  it('caps logins still being decided per address', async () => {
    const slow = await startServer({
      auth: { param: PARAM },
      authFailDelay: 20,
      loginLimits: { pendingPerAddress: 2, addressBurst: 1000, deviceBurst: 1000 },
    });
    // A key store that never answers keeps every login pending.
    slow.keyStore = { lookup: () => new Promise(() => undefined), close: async () => undefined } as unknown as typeof slow.keyStore;
    try {
      const peers = await Promise.all(Array.from({ length: 4 }, () => openPeer(pool, slow, 'cong')));
      for (const p of peers) p.wire.send(p.authReq('legit', 'key-legit'));
      const replies = await Promise.allSettled(peers.map((p) => p.wire.next(1000)));
      const fails = replies.filter((r) => r.status === 'fulfilled' && r.value.toString('hex') === 'b3').length;
      assert.equal(fails, 2, 'two pending, the other two refused at once');
      assert.equal(slow.counters.authFailByReason.pending_cap, 2);
    } finally {
      await pool.closeAll();
      await slow.close();
    }
  });
});
