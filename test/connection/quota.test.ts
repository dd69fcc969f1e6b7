// Quotas (docs/protocol.md §8.2; Q3, Q29) and membersOnly (§5.9), over both transports.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientPool, type RawClient } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { ManualClock } from '../kit/manual-clock.js';
import { startServer, type IosigServer, TRANSPORTS } from '../kit/server.js';
import { MSG, PAYLOAD } from '../../src/protocol/codes.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import { type Peer, drained, loggedIn, openPeer, signalE2E, textSignal } from '../kit/peer.js';
import { hex, sub } from '../kit/messages.js';

const PARAM = 'q1w.k.Q1W.1,q1c.k.Q1C.1,q10.k.Q10.10,q3.k.Q3.3,t1w.k.T1W.1,t1c.k.T1C.1,mo.k.MO.3,mo2.k.MO2.3';

/** A SIGNAL of exactly `size` bytes on tag `sz` (TEXT payload). */
function signalOfSize(size: number): Buffer {
  const msg = encodeSignal('sz', PAYLOAD.TEXT, Buffer.concat([Buffer.alloc(size - 6, 0x61), Buffer.from([0])]));
  assert.equal(msg.length, size);
  return msg;
}

async function anonListener(pool: ClientPool, server: IosigServer, tag: string, kind: 'ws' | 'cong' = 'cong'): Promise<Peer> {
  const l = await openPeer(pool, server, kind);
  await l.anonymousCid();
  l.wire.send(sub(tag));
  await l.quiet();
  return l;
}

describe('signalSize quota (level 1 = 255 bytes)', () => {
  let server: IosigServer;
  let strict: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    server = await startServer({ auth: { param: PARAM }, useQuota: { signalSize: true } });
    strict = await startServer({ auth: { param: PARAM }, useQuota: { signalSize: true, disconnect: true } });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server, strict);
  });
  after(async () => {
    await server.close();
    await strict.close();
  });

  for (const kind of TRANSPORTS) {
    const id = kind === 'ws' ? 'q1w' : 'q1c';
    it(`247-byte plaintext passes; the same encrypted (268 bytes) gets OVER_SIZE [FE] and is dropped (${kind})`, async () => {
      const listener = await anonListener(pool, server, 'sz');
      const p = await loggedIn(pool, server, kind, id, 'k');
      const signal = signalOfSize(247);
      p.wire.send(signal);
      assert.equal(hex(await listener.wire.next(2000)), hex(signal), 'the 247-byte plaintext is delivered');
      const before = server.metrics();
      const sealed = p.seal(signal);
      assert.equal(sealed.length, 268);
      p.wire.send(sealed);
      const fe = await p.wire.next(2000);
      assert.equal(hex(fe), 'fe', 'OVER_SIZE, plaintext');
      await listener.quiet();
      const after = server.metrics();
      assert.equal(after.overSize, before.overSize + 1);
      assert.equal(after.quotaViolations, before.quotaViolations + 1);
      // 256 bytes plain is over too; 255 passes.
      p.wire.send(signalOfSize(256));
      assert.equal(hex(await p.wire.next(2000)), 'fe');
      p.wire.send(signalOfSize(255));
      assert.equal(hex(await listener.wire.next(2000)), hex(signalOfSize(255)));
      assert.equal(p.wire.closed, false, 'without `disconnect` the connection stays');
      if (kind === 'ws') {
        p.raw!.sendText('t'.repeat(300));
        assert.equal(hex(await p.wire.next(2000)), 'fe', 'text frames count against the size quota');
      }
    });

    it(`with useQuota.disconnect an oversized message gets [FE] and the connection is closed (${kind})`, async () => {
      const p = await loggedIn(pool, strict, kind, id, 'k');
      const sealed = p.seal(signalOfSize(247));
      p.wire.send(sealed);
      await p.wire.waitClosed(2000);
      // Messages that arrived before the close are still readable from the RawClient queue.
      const got = p.raw!.pending > 0 ? hex(await p.wire.next(100)) : '(nothing)';
      assert.equal(got, 'fe', 'OVER_SIZE [FE] must be sent before the connection is closed (§3.11, §8.2)');
    });
  }
});

describe('publishCounter quota (fan-out cap, first subscribers in subscription order)', () => {
  let server: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    server = await startServer({ auth: { param: PARAM }, useQuota: { publishCounter: true } });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(async () => {
    await server.close();
  });

  async function subscribers(tag: string, n: number): Promise<Peer[]> {
    const subs: Peer[] = [];
    for (let i = 0; i < n; i++) subs.push(await anonListener(pool, server, tag, i % 2 === 0 ? 'ws' : 'cong'));
    return subs;
  }

  async function receivers(subs: Peer[]): Promise<number[]> {
    const got: number[] = [];
    for (const [i, s] of subs.entries()) if ((await s.sync()).length > 0) got.push(i);
    return got;
  }

  for (const kind of TRANSPORTS) {
    it(`level 10 reaches the first 5 of 12 subscribers; default level 3 reaches the first 10 (${kind})`, async () => {
      const subs = await subscribers('fan', 12);
      const p10 = await loggedIn(pool, server, kind, 'q10', 'k');
      p10.sendEnc(textSignal('fan', 'ten'));
      await p10.quiet();
      assert.deepEqual(await receivers(subs), [0, 1, 2, 3, 4]);
      const anon = await openPeer(pool, server, kind);
      anon.wire.send(textSignal('fan', 'three'));
      await anon.quiet();
      assert.deepEqual(await receivers(subs), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const p3 = await loggedIn(pool, server, kind, 'q3', 'k');
      p3.wire.send(textSignal('fan', 'three too'));
      await p3.quiet();
      assert.deepEqual(await receivers(subs), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
  }
});

describe('trafficRate quota (token bucket, level 1 = 100 000 B/s, one-second burst)', () => {
  let server: IosigServer;
  let strict: IosigServer;
  const pool = new ClientPool();

  // Frozen time: the buckets refill only when the test advances the clock, so the counts are exact.
  const clock = new ManualClock();

  before(async () => {
    server = await startServer({ auth: { param: PARAM }, useQuota: { trafficRate: true }, clock });
    strict = await startServer({ auth: { param: PARAM }, useQuota: { trafficRate: true, disconnect: true }, clock });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server, strict);
  });
  after(async () => {
    await server.close();
    await strict.close();
  });

  const COUNT = 200;
  const burst = (): Buffer => encodeSignal('rate', PAYLOAD.BINARY, Buffer.alloc(1000 - 7, 0x42));

  for (const kind of TRANSPORTS) {
    const id = kind === 'ws' ? 't1w' : 't1c';
    it(`${COUNT} kB sent at once: the first 100 kB pass, the rest is dropped; half a second refills 50 kB (${kind})`, async () => {
      const listener = await anonListener(pool, server, 'rate');
      const p = await loggedIn(pool, server, kind, id, 'k');
      const before = server.metrics().quotaViolations;
      const msg = burst();
      assert.equal(msg.length, 1000);
      const sendAndCount = async (count: number, seenBefore: number): Promise<{ delivered: number; violations: number }> => {
        const violationsBefore = server.metrics().quotaViolations;
        for (let i = 0; i < count; i++) p.wire.send(msg);
        await waitFor(
          () => (server.connectionList().find((c) => c.cid === p.cid)?.messagesIn ?? 0) >= seenBefore + count,
          5000,
          'the server to read every message',
        );
        const delivered = (await listener.sync(3000)).filter((r) => r.wire[0] === MSG.SIGNAL).length;
        return { delivered, violations: server.metrics().quotaViolations - violationsBefore };
      };
      // AUTH_REQ and CID_REQ came before; the bucket started afresh at the login's level, less CID_REQ's byte.
      const first = await sendAndCount(COUNT, 2);
      assert.ok(first.violations > 0, 'quotaViolations grows');
      assert.equal(first.delivered + first.violations, COUNT, 'every message is either delivered or counted as a violation');
      assert.equal(first.delivered, 99, "one second's burst (100 000 B) less the CID_REQ byte: 99 messages of 1000 B");
      clock.advance(500);
      const second = await sendAndCount(60, COUNT + 2);
      assert.equal(second.delivered, 50, '500 ms at 100 000 B/s refill 50 messages');
      assert.equal(second.violations, 10);
      assert.equal(server.metrics().quotaViolations - before, first.violations + second.violations);
      assert.equal(p.wire.closed, false, 'without `disconnect` the connection stays');
    });

    it(`with useQuota.disconnect a sender over the rate is closed (${kind})`, async () => {
      const p = await loggedIn(pool, strict, kind, id, 'k');
      const msg = burst();
      for (let i = 0; i < COUNT; i++) p.wire.send(msg);
      await p.wire.waitClosed(3000);
      assert.ok(strict.metrics().quotaViolations > 0);
    });
  }
});

describe('membersOnly', () => {
  let server: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    server = await startServer({ auth: { param: PARAM }, membersOnly: true });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(async () => {
    await server.close();
  });

  for (const kind of TRANSPORTS) {
    it(`anonymous SUBSCRIBE/IAM/ECHO work; an anonymous SIGNAL gets [C4] and the connection is closed (${kind})`, async () => {
      const member = await loggedIn(pool, server, kind === 'ws' ? 'cong' : 'ws', 'mo', 'k');
      member.sendEnc(sub('mo'));
      await member.quiet();
      const anon = await openPeer(pool, server, kind);
      assert.match(await anon.anonymousCid(), /^\?/);
      anon.wire.send(sub('mo'));
      const { json } = await anon.iam();
      assert.deepEqual((json as unknown as { tag: string[] }).tag, ['CH:mo']);
      anon.wire.send(Buffer.from('cc6869', 'hex'));
      assert.equal(hex(await anon.wire.next(2000)), 'cc6869');
      // A member's publish reaches the anonymous subscriber (plaintext) and the member (encrypted).
      const signal = textSignal('mo', 'from a member');
      member.sendEnc(signal);
      assert.equal(hex(await anon.wire.next(2000)), hex(signal));
      assert.equal(hex((await member.nextPlain()).plain), hex(signal));
      // Anonymous publish: AUTH_CLEAR [C4] and close; nobody receives it.
      anon.wire.send(textSignal('mo', 'from anonymous'));
      assert.equal(hex(await anon.wire.next(2000)), 'c4');
      await anon.wire.waitClosed(2000);
      await member.quiet();
    });

    it(`anonymous SIGNAL_E2E is refused the same way; after a login the same connection may publish (${kind})`, async () => {
      const anon = await openPeer(pool, server, kind);
      anon.wire.send(signalE2E('mo', anon.boho.encryptE2E(Buffer.from('x'), 'p')));
      assert.equal(hex(await anon.wire.next(2000)), 'c4');
      await anon.wire.waitClosed(2000);
      const listener = await openPeer(pool, server, kind);
      listener.wire.send(sub('mo2'));
      await listener.quiet();
      const late = await openPeer(pool, server, kind);
      await late.anonymousCid();
      await late.login('mo2', 'k');
      late.wire.send(textSignal('mo2', 'now a member'));
      assert.equal(hex(await listener.wire.next(2000)), hex(textSignal('mo2', 'now a member')));
      const raw: RawClient | null = late.raw;
      assert.equal(raw?.closed, false);
    });
  }
});
