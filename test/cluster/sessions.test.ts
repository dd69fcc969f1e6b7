// Logins, encryption and the real iosignal 2.2.1 clients across two cluster nodes.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BUS_ENGINES } from './engines.js';
import { ClientPool } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { portOf, type IosigServer } from '../kit/server.js';
import { hex, sub } from '../kit/messages.js';
import { MSG, PAYLOAD } from '../../src/protocol/codes.js';
import { BohoSession } from '../../src/crypto/boho.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import { loggedIn, openPeer, signalE2E, textSignal } from '../kit/peer.js';
import { interestKnown, settled, startTwoNodes, type TwoNodes } from './broker-support.js';
import { loadIosignal221, nextEvent as nextEventWithin, type Io221Client as IoClient } from '../kit/iosignal-221.js';
import { inside } from '../kit/inside.js';

/** Cross-node events get a little longer than one node's. */
const nextEvent = (c: IoClient, event: string, ms = 4000, pred?: (args: unknown[]) => boolean): Promise<unknown[]> =>
  nextEventWithin(c, event, ms, pred);

const PARAM = 'io221w.key-w.IOW.2,io221c.key-c.IOC.10,member.key-m.MEM.3,dev.key-d.DEV.3';

for (const engine of BUS_ENGINES) {
  describe(`sessions across two cluster nodes on ${engine.label}`, { skip: engine.skip }, () => {
    let nodes: TwoNodes | undefined;
    let a: IosigServer;
    let b: IosigServer;
    const pool = new ClientPool();

    before(async () => {
      nodes = await startTwoNodes('sess', { auth: { param: PARAM }, authFailDelay: 50 }, engine);
      ({ a, b } = nodes);
    });
    afterEach(() => pool.closeAll());
    after(() => nodes?.stop());

    it('an encrypted receiver on the other node gets ENC_488 sealed by its own node; SIGNAL_E2E is relayed', async () => {
      const member = await loggedIn(pool, b, 'cong', 'member', 'key-m');
      member.sendEnc(sub('mix'));
      await member.quiet();
      await interestKnown('CH:mix', [a]);
      const anon = await openPeer(pool, a, 'ws');
      await anon.anonymousCid();
      anon.wire.send(textSignal('mix', 'from A'));
      const got = await member.nextPlain(3000);
      assert.equal(got.wire[0], MSG.ENC_488, 'sealed for the member by node B');
      assert.equal(hex(got.plain), hex(textSignal('mix', 'from A')));
      const pack = new BohoSession().encryptE2E(Buffer.from('secret'), 'e2e-pass');
      assert.ok(pack);
      anon.wire.send(signalE2E('mix', pack));
      const e2e = await member.nextPlain(3000);
      assert.equal(e2e.wire[0], MSG.ENC_E2E, 'header sealed, pack untouched');
      assert.equal(hex(e2e.plain), hex(signalE2E('mix', pack)));
    });

    it('keep-old holds across nodes: a second login for an online CID on another node is refused', async () => {
      const first = await loggedIn(pool, a, 'ws', 'dev', 'key-d');
      assert.equal(first.cid, 'DEV');
      const second = await openPeer(pool, b, 'ws');
      const since = Date.now();
      second.wire.send(second.authReq('dev', 'key-d'));
      await second.expectAuthFail(since);
      const third = await openPeer(pool, b, 'cong');
      third.wire.send(third.authReq('dev', 'key-d'));
      await third.raw!.waitClosed(3000);
      // The first session is untouched and the CID is free again once it leaves.
      await first.quiet();
      await first.raw!.close();
      await waitFor(() => !inside(a).router.cids.has('DEV'), 2000, 'DEV released on A');
      const again = await loggedIn(pool, b, 'cong', 'dev', 'key-d');
      assert.equal(again.cid, 'DEV');
    });

    it('keep-old across nodes: a stale session that does not answer the probe gives way to the new login', async () => {
      // A CongSocket client that never answers PING: the socket of a device that has gone (a Wi-Fi drop).
      const stale = await loggedIn(pool, a, 'cong', 'dev', 'key-d');
      assert.equal(stale.cid, 'DEV');
      const fresh = await openPeer(pool, b, 'ws');
      await fresh.login('dev', 'key-d');
      assert.equal(fresh.cid, 'DEV');
      await stale.raw!.waitClosed(3000);
      await waitFor(() => !inside(a).router.cids.has('DEV'), 2000, 'A let go of DEV');
    });

    it('the same rule holds for a bearer login across nodes: a silent old session gives way, a live one wins', async () => {
      const stale = await loggedIn(pool, a, 'cong', 'dev', 'key-d');
      assert.equal(stale.cid, 'DEV');
      const bearer = { headers: { Authorization: 'Bearer dev.key-d' } };
      const fresh = await pool.open('ws', portOf(b, 'ws'), { ...bearer, autoPong: true });
      assert.equal((await fresh.nextOfType(MSG.QUOTA_LEVEL, 6000)).msg[1], 3, 'the bearer device is admitted on B');
      await stale.raw!.waitClosed(3000);
      await waitFor(() => inside(b).router.cids.has('DEV') && !inside(a).router.cids.has('DEV'), 3000, 'DEV moved to B');
      // Now the bearer session on B is live: a second bearer login on A is refused, B keeps the CID.
      const second = await pool.open('ws', portOf(a, 'ws'), bearer);
      await second.waitClosed(6000);
      assert.equal(fresh.closed, false);
      assert.ok(inside(b).router.cids.has('DEV'));
      await fresh.close();
      await waitFor(() => !inside(b).router.cids.has('DEV'), 3000, 'DEV released on B');
    });

    it('unmodified iosignal 2.2.1 clients on two nodes talk as if on one', async () => {
      const lib = await loadIosignal221();
      const quietLog = console.log;
      console.log = () => undefined; // the 2.2.1 client prints its quota and dots
      const w = new lib.IO();
      const c = new lib.IOCongSocket();
      try {
        for (const x of [w, c]) x.on('error', () => undefined);
        w.auth('io221w', 'key-w');
        c.auth('io221c', 'key-c');
        w.open(`ws://127.0.0.1:${portOf(a, 'ws')}`);
        c.open(`cong://127.0.0.1:${portOf(b, 'cong')}`);
        await Promise.all([nextEvent(w, 'ready'), nextEvent(c, 'ready')]);
        assert.equal(w.cid, 'IOW');
        assert.equal(c.cid, 'IOC');
        w.subscribe('both');
        c.subscribe('both');
        await interestKnown('CH:both', [a, b]);
        const atW = nextEvent(w, 'both', 4000, (args) => args[0] === 'cong to ws');
        c.signal('both', 'cong to ws', 7);
        assert.deepEqual(await atW, ['cong to ws', 7, 'both']);
        const atC = nextEvent(c, 'both', 4000, (args) => typeof args[0] === 'object');
        w.signal('both', { from: 'ws' });
        assert.deepEqual(await atC, [{ from: 'ws' }, 'both']);
        // Unicast by CID from one node to the other.
        const direct = nextEvent(c, '@', 4000);
        w.signal('IOC@ping', 'hi');
        assert.deepEqual(await direct, ['hi', '@ping']);
      } finally {
        w.stop();
        c.stop();
        console.log = quietLog;
      }
    });
  });
}

for (const engine of BUS_ENGINES) {
  describe(`duplicate login with replace across nodes on ${engine.label}`, { skip: engine.skip }, () => {
    let nodes: TwoNodes | undefined;
    let a: IosigServer;
    let b: IosigServer;
    const pool = new ClientPool();

    before(async () => {
      nodes = await startTwoNodes('repl', { auth: { param: PARAM }, authFailDelay: 50, duplicateLogin: 'replace' }, engine);
      ({ a, b } = nodes);
    });
    after(async () => {
      await pool.closeAll();
      await nodes?.stop();
    });

    it('the old session gets AUTH_CLEAR and closes without a close notice; the new one holds the CID', async () => {
      const watcher = await openPeer(pool, a, 'ws');
      await watcher.anonymousCid();
      watcher.wire.send(sub('DEV@state'));
      await watcher.quiet();
      const old = await loggedIn(pool, a, 'cong', 'dev', 'key-d');
      const fresh = await loggedIn(pool, b, 'ws', 'dev', 'key-d');
      assert.equal(fresh.cid, 'DEV');
      await settled(b);
      const cleared = await old.wire.next(3000);
      assert.equal(cleared[0], MSG.AUTH_CLEAR);
      await old.raw!.waitClosed(3000);
      await watcher.quiet();
      // The CID now lives on B: a unicast from A reaches the new session.
      watcher.wire.send(encodeSignal('DEV@x', PAYLOAD.TEXT, Buffer.from('to new\0')));
      const got = await fresh.nextPlain(3000);
      assert.equal(hex(got.plain), hex(textSignal('@x', 'to new')));
    });
  });
}
