// Boho login over both transports (docs/protocol.md §3.2, §4.4, §4.8; Q18, Q19, Q21, Q33): success, levels,
// every refusal, no state change on refusal, held messages, duplicate logins under both policies.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientPool } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { ManualClock } from '../kit/manual-clock.js';
import { startServer, type IosigServer, TRANSPORTS } from '../kit/server.js';
import { MSG } from '../../src/protocol/codes.js';
import { IAM_MSG, Peer, drained, expectProbe, loggedIn, openPeer, textSignal } from '../kit/peer.js';
import { inside } from '../kit/inside.js';
import { ANON_CID, hex, sub, CID_REQ } from '../kit/messages.js';

const FAIL_DELAY = 100;

// id.key.cid.level — ids are at most 8 bytes; every duplicate test has its own identity.
const PARAM = [
  'lv1.key-lv1.L1.1',
  'lv0.key-lv0.L0.0',
  'lv10.key-lv10.L10.10',
  'adm.key-adm.ADM.255',
  'lv7.key-lv7.L7.7',
  'hold.key-hold.HOLD.3',
  'dupww.k.DWW.3',
  'dupcc.k.DCC.3',
  'dupwc.k.DWC.3',
  'dupcw.k.DCW.3',
  'relog.k.RELOG.3',
  'relogc.k.RELOGC.3',
].join(',');

/** After a refused login nothing changed (Q19): IAM_RES plain with did "", CID_REQ gives a plain anonymous cid. */
async function assertStillAnonymous(p: Peer): Promise<void> {
  const { json, encrypted } = await p.iam();
  assert.equal(encrypted, false, 'IAM_RES stays plaintext after a refused login');
  assert.equal(json.did, '');
  assert.equal(json.level, 3);
  assert.equal(json.cid, '');
  const cid = await p.anonymousCid();
  assert.match(cid, ANON_CID);
}

describe('login with the param key store', () => {
  let server: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    server = await startServer({ auth: { param: PARAM }, authFailDelay: FAIL_DELAY });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(async () => {
    await server.close();
  });

  for (const kind of TRANSPORTS) {
    it(`logs in: QUOTA_LEVEL, AUTH_RES, encrypted CID_RES, encrypted IAM_RES (${kind})`, async () => {
      const okBefore = server.metrics().authOk;
      const p = await openPeer(pool, server, kind);
      p.wire.send(p.authReq('lv1', 'key-lv1'));
      const quota = await p.wire.next(2000);
      assert.equal(hex(quota), 'c301', 'QUOTA_LEVEL [C3, 1] comes first, plaintext');
      const res = await p.wire.next(2000);
      assert.equal(res.length, 33);
      assert.equal(res[0], MSG.AUTH_RES);
      assert.ok(p.boho.verifyAuthRes(res), 'the client can verify AUTH_RES');
      p.wire.send(CID_REQ);
      const cidRes = await p.nextPlain();
      assert.equal(cidRes.wire[0], MSG.ENC_488, 'CID_RES is sent as ENC_488');
      assert.equal(cidRes.wire.readUInt32LE(1), 3, 'ENC_488 len = plaintext length');
      assert.equal(cidRes.wire.length, 21 + 3);
      assert.equal(hex(cidRes.plain), hex(Buffer.from('c2' + Buffer.from('L1').toString('hex'), 'hex')));
      const { json, encrypted } = await p.iam();
      assert.equal(encrypted, true, 'IAM_RES is encrypted for a logged-in session');
      assert.equal(json.did, 'lv1');
      assert.equal(json.cid, 'L1');
      assert.equal(json.nick, 'L1');
      assert.equal(json.level, 1);
      assert.equal(server.metrics().authOk, okBefore + 1);
      const info = server.connectionList().find((c) => c.cid === 'L1');
      assert.ok(info, 'connectionList has the logged-in connection');
      assert.equal(info.authorized, true);
      assert.equal(info.did, 'lv1');
      assert.equal(info.level, 1);
      assert.equal(info.transport, kind);
      assert.equal(info.tls, false);
    });

    it(`levels: stored 0 → 3, 10 → 10, 255 admin, 7 (not in the table) → AUTH_FAIL (${kind})`, async () => {
      const a = await openPeer(pool, server, kind);
      assert.deepEqual(await a.login('lv0', 'key-lv0'), { level: 3, cid: 'L0' });
      const b = await openPeer(pool, server, kind);
      assert.deepEqual(await b.login('lv10', 'key-lv10'), { level: 10, cid: 'L10' });
      const c = await openPeer(pool, server, kind);
      assert.deepEqual(await c.login('adm', 'key-adm'), { level: 255, cid: 'ADM' });
      assert.equal((await c.iam()).json.level, 255);
      const d = await openPeer(pool, server, kind);
      const failBefore = server.metrics().authFail;
      const t0 = Date.now();
      d.wire.send(d.authReq('lv7', 'key-lv7'));
      await d.expectAuthFail(t0);
      assert.equal(server.metrics().authFail, failBefore + 1);
      await assertStillAnonymous(d);
      // Q19: the refused login did not take the stored cid.
      assert.equal(server.connectionList().some((x) => x.cid === 'L7'), false);
    });

    it(`refusals: wrong key, unknown id, truncated AUTH_REQ → AUTH_FAIL and no state change (${kind})`, async () => {
      const cases: [string, (p: Peer) => Buffer][] = [
        ['wrong key', (p) => p.authReq('lv1', 'not-the-key')],
        ['unknown id', (p) => p.authReq('nobody', 'key-lv1')],
        ['truncated AUTH_REQ (30 bytes)', (p) => p.authReq('lv1', 'key-lv1').subarray(0, 30)],
        ['AUTH_REQ type byte only', () => Buffer.from([MSG.AUTH_REQ])],
      ];
      for (const [what, make] of cases) {
        const p = await openPeer(pool, server, kind);
        const failBefore = server.metrics().authFail;
        const t0 = Date.now();
        p.wire.send(make(p));
        const took = await p.expectAuthFail(t0);
        assert.ok(took >= FAIL_DELAY - 20, `${what}: AUTH_FAIL after the configured delay (took ${took} ms)`);
        assert.equal(server.metrics().authFail, failBefore + 1, `${what}: counted`);
        await assertStillAnonymous(p);
        // A plaintext publish from the refused connection still works (it is an ordinary anonymous one).
        const r = await openPeer(pool, server, kind);
        await r.anonymousCid();
        r.wire.send(sub('after-fail'));
        await r.quiet();
        p.wire.send(textSignal('after-fail', what));
        assert.equal(hex((await r.nextPlain()).wire), hex(textSignal('after-fail', what)));
      }
    });

    it(`messages sent right after AUTH_REQ are handled after the login, in order (${kind})`, async () => {
      const p = await openPeer(pool, server, kind);
      p.wire.send(p.authReq('hold', 'key-hold'));
      p.wire.send(sub('held'));
      p.wire.send(IAM_MSG);
      p.wire.send(CID_REQ);
      p.wire.send(textSignal('held', 'self'));
      assert.equal(await p.expectAuthOk(), 3);
      const iam = await p.nextPlain();
      assert.equal(iam.encrypted, true, 'the held IAM is answered after the login, so encrypted');
      const json = JSON.parse(iam.plain.subarray(1).toString()) as { did: string; tag: string[] };
      assert.equal(json.did, 'hold');
      assert.deepEqual(json.tag, ['CH:held'], 'the SUBSCRIBE sent before IAM was handled before it');
      const cid = await p.nextPlain();
      assert.equal(cid.encrypted, true);
      assert.equal(cid.plain.toString('utf8', 1), 'HOLD');
      const self = await p.nextPlain();
      assert.equal(self.encrypted, true, 'self delivery of the held publish is encrypted');
      assert.equal(hex(self.plain), hex(textSignal('held', 'self')));
    });

    it(`messages sent right after a refused AUTH_REQ follow the AUTH_FAIL, plaintext (${kind})`, async () => {
      const p = await openPeer(pool, server, kind);
      p.wire.send(p.authReq('hold', 'wrong'));
      p.wire.send(IAM_MSG);
      const t0 = Date.now();
      await p.expectAuthFail(t0);
      const iam = await p.nextPlain();
      assert.equal(iam.encrypted, false);
      assert.equal(iam.plain[0], MSG.IAM_RES);
      assert.equal((JSON.parse(iam.plain.subarray(1).toString()) as { did: string }).did, '');
    });

    it(`re-login with the same identity on the same connection: a probe and no reply (${kind})`, async () => {
      const id = kind === 'ws' ? 'relog' : 'relogc';
      const p = await loggedIn(pool, server, kind, id, 'k');
      const okBefore = server.metrics().authOk;
      const failBefore = server.metrics().authFail;
      // A second session makes the AUTH_REQ, so the first one keeps the live session keys.
      const other = new Peer(p.wire);
      other.hello = p.hello;
      p.wire.send(other.authReq(id, 'k'));
      await expectProbe(p);
      await p.quiet();
      await new Promise((r) => setTimeout(r, FAIL_DELAY + 50));
      await p.quiet();
      assert.equal(server.metrics().authOk, okBefore);
      assert.equal(server.metrics().authFail, failBefore);
      const { json, encrypted } = await p.iam();
      assert.equal(encrypted, true, 'the original session still works');
      assert.equal(json.did, id);
    });
  }

  const combos: [string, 'ws' | 'cong', 'ws' | 'cong'][] = [
    ['dupww', 'ws', 'ws'],
    ['dupcc', 'cong', 'cong'],
    ['dupwc', 'ws', 'cong'],
    ['dupcw', 'cong', 'ws'],
  ];
  for (const [id, oldKind, newKind] of combos) {
    it(`duplicate login, keep-old: old ${oldKind} stays, new ${newKind} is refused, old gets a probe`, async () => {
      // A live device answers the probe (issue 9 item 10: a silent old session would lose the CID).
      const old = await loggedIn(pool, server, oldKind, id, 'k', { autoPong: true });
      const pingsBefore = old.raw?.pings ?? 0;
      const late = await openPeer(pool, server, newKind);
      const t0 = Date.now();
      late.wire.send(late.authReq(id, 'k'));
      await waitFor(() => (old.raw?.pings ?? 0) > pingsBefore, 2000, 'the probe of the old session');
      if (newKind === 'ws') {
        await late.expectAuthFail(t0);
        await assertStillAnonymous(late);
      } else {
        await late.wire.waitClosed(1000);
        assert.ok(Date.now() - t0 < FAIL_DELAY + 400, 'cong newcomer closed at once');
        assert.equal(late.raw?.pending, 0, 'cong newcomer got no message (no AUTH_FAIL)');
      }
      const { json, encrypted } = await old.iam();
      assert.equal(encrypted, true);
      assert.equal(json.did, id, 'the old session is still logged in');
      assert.equal(old.wire.closed, false);
    });
  }
});

describe('AUTH_FAIL timing and servers without a key store', () => {
  let bare: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    bare = await startServer({ authFailDelay: FAIL_DELAY });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(bare);
  });
  after(async () => {
    await bare.close();
  });

  it('AUTH_FAIL comes 600 ms after a wrong key (default authFailDelay), on both transports at once', async () => {
    // On a manual clock: the delay is checked at its exact instant, without waiting for it.
    const clock = new ManualClock();
    const timed = await startServer({ auth: { param: 'tdev.tkey.TD.3' }, clock });
    try {
      assert.equal(inside(timed).options.authFailDelay, 600, 'the default delay');
      const [w, c] = await Promise.all(TRANSPORTS.map((kind) => openPeer(pool, timed, kind)));
      const sweepOnly = clock.pending;
      w!.wire.send(w!.authReq('tdev', 'wrong'));
      c!.wire.send(c!.authReq('tdev', 'wrong'));
      await waitFor(() => clock.pending === sweepOnly + 2, 2000, 'both refusals waiting for their delay');
      clock.advance(599);
      assert.equal(clock.pending, sweepOnly + 2, 'no AUTH_FAIL 1 ms before the delay');
      assert.equal(w!.raw!.pending + c!.raw!.pending, 0, 'nothing sent yet');
      clock.advance(1);
      assert.equal(clock.pending, sweepOnly, 'both AUTH_FAILs went out at 600 ms');
      await Promise.all([w!.expectAuthFail(0), c!.expectAuthFail(0)]);
    } finally {
      await pool.closeAll();
      await timed.close();
    }
  });

  for (const kind of TRANSPORTS) {
    it(`Q18: a server without a key store answers AUTH_REQ with AUTH_FAIL (${kind})`, async () => {
      const p = await openPeer(pool, bare, kind);
      const t0 = Date.now();
      p.wire.send(p.authReq('tdev', 'tkey'));
      await p.expectAuthFail(t0);
      await assertStillAnonymous(p);
    });
  }
});

describe("duplicate login under duplicateLogin 'replace'", () => {
  let server: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    server = await startServer({
      auth: { param: 'rww.k.RWW.3,rcc.k.RCC.3,rwc.k.RWC.3,rcw.k.RCW.3' },
      duplicateLogin: 'replace',
      authFailDelay: FAIL_DELAY,
    });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(async () => {
    await server.close();
  });

  const combos: [string, 'ws' | 'cong', 'ws' | 'cong'][] = [
    ['rww', 'ws', 'ws'],
    ['rcc', 'cong', 'cong'],
    ['rwc', 'ws', 'cong'],
    ['rcw', 'cong', 'ws'],
  ];
  for (const [id, oldKind, newKind] of combos) {
    it(`old ${oldKind} gets AUTH_CLEAR "duplicate login." and is closed; new ${newKind} is logged in`, async () => {
      const old = await loggedIn(pool, server, oldKind, id, 'k');
      const cid = old.cid;
      const late = await openPeer(pool, server, newKind);
      late.wire.send(late.authReq(id, 'k'));
      assert.equal(await late.expectAuthOk(), 3);
      const raw = old.raw!;
      const { msg } = await raw.nextOfType(MSG.AUTH_CLEAR, 2000);
      assert.equal(hex(msg), 'c4' + Buffer.from('duplicate login.').toString('hex'));
      await raw.waitClosed(2000);
      late.wire.send(CID_REQ);
      const res = await late.nextPlain();
      assert.equal(res.encrypted, true);
      assert.equal(res.plain.toString('utf8', 1), cid);
      // The CID index points at the new connection: a unicast reaches it.
      const third = await openPeer(pool, server, 'ws');
      await third.anonymousCid();
      third.wire.send(textSignal(`${cid}@u`, 'to-new'));
      const got = await late.nextPlain();
      assert.equal(hex(got.plain), hex(textSignal('@u', 'to-new')));
      await waitFor(() => server.connectionList().filter((c) => c.did === id).length === 1, 2000, 'one session for the id');
    });
  }
});
