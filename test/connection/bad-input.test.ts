// Malformed and hostile input over both transports. After every case two other clients (one ws,
// one cong) must still exchange a channel message: the server survives and keeps routing.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MSG } from '../../src/protocol/codes.js';
import { encodeFrame } from '../../src/protocol/congsocket.js';
import { ClientPool, type RawClient, type Transport } from '../kit/raw-client.js';
import { sleep, waitFor } from '../kit/wait.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { CID_REQ, PING, assertQuiet, b, expectMsg, hex, iam, sub, subReq, text } from '../kit/messages.js';

const LIMIT = 4096;
const AUTH_FAIL_DELAY_MS = 50;
const T = { timeout: 20_000 };

let server: IosigServer;
let wsWitness: RawClient;
let congWitness: RawClient;
const witnesses = new ClientPool();
const pool = new ClientPool();
let round = 0;

/** The two witnesses (ws and cong) still exchange a channel message in both directions. */
async function witnessesExchange(): Promise<void> {
  const ch = `health-${++round}`;
  wsWitness.send(sub(ch));
  congWitness.send(sub(ch));
  await wsWitness.sync();
  await congWitness.sync();
  const m1 = text(ch, 'ws→cong');
  wsWitness.send(m1);
  await expectMsg(congWitness, m1, 'witness delivery ws → cong');
  await expectMsg(wsWitness, m1, 'witness self delivery');
  const m2 = text(ch, 'cong→ws');
  congWitness.send(m2);
  await expectMsg(wsWitness, m2, 'witness delivery cong → ws');
  await expectMsg(congWitness, m2, 'witness self delivery');
  wsWitness.send(b('d500'));
  congWitness.send(b('d500'));
  await assertQuiet(wsWitness, congWitness);
  assert.equal(wsWitness.closed || congWitness.closed, false, 'witnesses are still connected');
}

/** A connected client that has only consumed SERVER_TIME_NONCE and SERVER_READY (no cid yet). */
async function fresh(kind: Transport, memory = false): Promise<RawClient> {
  const c = await pool.open(kind, memory ? { memory: server } : portOf(server, kind));
  const nonce = await c.next();
  assert.equal(nonce[0], MSG.SERVER_TIME_NONCE);
  assert.equal(hex(await c.next()), 'c0');
  return c;
}

const ready = (kind: Transport, memory = false): Promise<RawClient> => pool.ready(kind, memory ? { memory: server } : portOf(server, kind));

/** The connection still answers: a PING gets a PONG message (or a ws pong frame, Q32). */
async function stillAnswers(c: RawClient): Promise<void> {
  assert.equal(c.closed, false, `${c.kind} connection is still open`);
  c.send(PING);
  const evs = await c.syncEvents();
  const seen = evs.map((e) => (e.kind === 'msg' ? hex(e.data) : e.kind));
  assert.ok(seen.length === 1 && (seen[0] === 'ce' || seen[0] === 'pong'), `PING answer: [${seen.join(',')}]`);
}

const UNKNOWN_CODES = [0x00, 0x07, 0x50, 0x7f, 0xcb, 0xd1, 0xdb, 0xdc, 0xdd, 0xdf, 0xa0, 0xa1, 0xf0, 0xf1, 0xf2, 0xfa, 0xfd, 0xff];

// One server for the four links: its hooks sit in this outer describe, so the file can share a test process.
describe('bad input', () => {
  before(async () => {
    // A short AUTH_FAIL delay: the garbage test waits it out, and the delay itself is tested in test/connection/login.test.ts.
    server = await startServer({ maxMessageSize: LIMIT, authFailDelay: AUTH_FAIL_DELAY_MS });
    wsWitness = await witnesses.ready('ws', portOf(server, 'ws'));
    congWitness = await witnesses.ready('cong', portOf(server, 'cong'));
  });
  afterEach(async () => {
    await pool.closeAll();
  });
  after(async () => {
    await pool.closeAll();
    await witnesses.closeAll();
    await server.close();
  });

  /** Each transport over its socket and over the in-memory link (whole messages, no framing of its own). */
  const LINKS = [
    { name: 'ws', kind: 'ws', memory: false },
    { name: 'cong', kind: 'cong', memory: false },
    { name: 'in-memory ws', kind: 'ws', memory: true },
    { name: 'in-memory cong', kind: 'cong', memory: true },
  ] as const;

  for (const link of LINKS) {
    const kind: Transport = link.kind;
    const only = (k: Transport, why: string): { skip?: string; timeout: number } =>
      kind === k ? T : { skip: why, timeout: T.timeout };
    /** A rule about bytes on a socket: the in-memory link carries whole messages and has no framing to break. */
    const onSocket = (k: Transport, why: string): { skip?: string; timeout: number } =>
      kind === k && !link.memory ? T : { skip: why, timeout: T.timeout };

    describe(`bad input over ${link.name}`, () => {
      it('unknown bytes before CID_REQ: cong closes the socket at once (§1.2 rule 4)', onSocket('cong', 'cong framing rule'), async () => {
        for (const raw of ['070101cd', '474554202f20485454502f312e310d0a0d0a', '00', 'ff0101']) {
          const c = await fresh('cong', link.memory);
          c.sendRaw(b(raw));
          await c.waitClosed(1000);
          assert.equal(c.pending, 0, `nothing answered before the close (${raw})`);
        }
        await witnessesExchange();
      });

      it('unknown message codes before CID_REQ are ignored (§2)', T, async () => {
        const c = await fresh(kind, link.memory);
        for (const code of UNKNOWN_CODES) {
          // Over cong these are well-formed frames with an unknown message code inside.
          c.send(Buffer.from([code, 1, 2, 3]));
          c.send(Buffer.from([code]));
        }
        await assertQuiet(c);
        await stillAnswers(c);
        c.send(CID_REQ);
        const res = await c.next();
        assert.equal(res[0], MSG.CID_RES);
        await witnessesExchange();
      });

      it('unknown message codes after CID_REQ are ignored, the connection stays (§2)', T, async () => {
        const c = await ready(kind, link.memory);
        for (const code of UNKNOWN_CODES) c.send(Buffer.from([code, 0x41]));
        await assertQuiet(c);
        await stillAnswers(c);
        await witnessesExchange();
      });

      it('an unknown frame type byte after CID_REQ drops the buffer and the connection carries on (§1.2 rule 4, Q5)', onSocket('cong', 'cong framing rule'), async () => {
        const c = await ready('cong', link.memory);
        c.sendRaw(b('0701020101cd')); // bad header, then a valid PING in the same write
        await sleep(100);
        // Dropping the PING behind the bad byte is the reference behaviour; answering it is tolerated.
        const early = await c.sync();
        for (const m of early) assert.equal(hex(m), 'ce');
        await stillAnswers(c);
        await witnessesExchange();
      });

      it('zero-length, non-minimal and byte-by-byte frames are accepted (§1.2 rules 2, 3)', onSocket('cong', 'cong framing'), async () => {
        const c = await ready('cong', link.memory);
        c.sendRaw(b('0100'));
        c.sendRaw(b('020100cd'));
        c.sendRaw(b('03010000cd'));
        c.sendRaw(b('0401000000cd'));
        for (const byte of b('0102cc41')) {
          c.sendRaw(Buffer.from([byte]));
          await sleep(5);
        }
        assert.deepEqual((await c.sync()).map(hex), ['ce', 'ce', 'ce', 'cc41']);
        await witnessesExchange();
      });

      it('10 000 PINGs at once all get answered (Q4: loop, not recursion)', T, async () => {
        const c = await ready(kind, link.memory);
        const n = 10_000;
        if (kind === 'cong' && !link.memory) c.sendRaw(Buffer.concat(Array.from({ length: n }, () => encodeFrame(PING))));
        else for (let i = 0; i < n; i++) c.send(PING);
        let answers = 0;
        const end = Date.now() + 15_000;
        while (answers < n && Date.now() < end) {
          const ev = await c.nextEvent(Math.max(1, end - Date.now()));
          if (ev.kind === 'pong' || (ev.kind === 'msg' && hex(ev.data) === 'ce')) answers++;
          else assert.fail(`unexpected ${ev.kind === 'msg' ? hex(ev.data) : ev.kind}`);
        }
        assert.equal(answers, n);
        await stillAnswers(c);
        await witnessesExchange();
      });

      it('10 000 SIGNALs at once are all delivered in order', T, async () => {
        const c = await ready(kind, link.memory);
        const receiver = kind === 'cong' ? wsWitness : congWitness;
        const ch = `flood-${kind}`;
        receiver.send(sub(ch));
        await receiver.sync();
        const n = 10_000;
        const msgs = Array.from({ length: n }, (_, i) => text(ch, String(i)));
        if (kind === 'cong' && !link.memory) c.sendRaw(Buffer.concat(msgs.map((m) => encodeFrame(m))));
        else for (const m of msgs) c.send(m);
        for (let i = 0; i < n; i++) {
          const got = await receiver.next(10_000);
          if (!got.equals(msgs[i]!)) assert.fail(`delivery ${i}: expected ${hex(msgs[i]!)}, got ${hex(got)}`);
        }
        receiver.send(b('d500'));
        await assertQuiet(receiver);
        await witnessesExchange();
      });

      it(`a message of exactly maxMessageSize (${LIMIT}) is delivered; one byte more closes (§1.1, §1.2 rule 5, Q7)`, onSocket(kind, 'the transports enforce maxMessageSize; the in-memory link has no limit of its own'), async () => {
        const c = await ready(kind, link.memory);
        const receiver = kind === 'cong' ? wsWitness : congWitness;
        const ch = `limit-${kind}`;
        receiver.send(sub(ch));
        await receiver.sync();
        const head = text(ch, '');
        const fits = Buffer.concat([head.subarray(0, head.length - 1), Buffer.alloc(LIMIT - head.length + 1, 0x61)]);
        assert.equal(fits.length, LIMIT);
        c.send(fits);
        await expectMsg(receiver, fits, `${LIMIT}-byte message`);
        receiver.send(b('d500'));
        await receiver.sync();
        const tooBig = Buffer.concat([fits, b('61')]);
        c.send(tooBig);
        await c.waitClosed(2000);
        await assertQuiet(receiver);
        await witnessesExchange();
      });

      it('a frame header announcing more than the limit closes at once, before any payload (§1.2 rule 5)', onSocket('cong', 'cong frame headers'), async () => {
        for (const header of ['020110', '0401100000', '04ffffff00', '03ffffff']) {
          const c = await ready('cong', link.memory);
          c.sendRaw(b(header));
          await c.waitClosed(2000);
        }
        await witnessesExchange();
      });

      it('truncated frames (header, partial body, partial header, then close) do no harm', onSocket('cong', 'needs raw TCP framing'), async () => {
        for (const raw of ['010a010203', '0205', '04', Buffer.concat([b('04000c0000'), Buffer.alloc(1000, 1)]).toString('hex')]) {
          const c = await ready('cong', link.memory);
          c.sendRaw(b(raw));
          await sleep(20);
          await c.close();
        }
        await waitFor(() => server.metrics().connections === 2, 2000, 'the server to drop the truncated connections');
        await witnessesExchange();
      });

      it('SIGNAL shorter than tagLen + 3 is dropped and counted (§5.1, Q1)', T, async () => {
        const c = await ready(kind, link.memory);
        wsWitness.send(sub('ab'));
        congWitness.send(sub('ab'));
        await wsWitness.sync();
        await congWitness.sync();
        const before0 = server.metrics().badMessages;
        for (const m of ['d0', 'd000', 'd0026162', 'd0036162', 'd0056162']) c.send(b(m));
        await assertQuiet(c, wsWitness, congWitness);
        assert.ok(server.metrics().badMessages >= before0 + 5, `badMessages ${before0} → ${server.metrics().badMessages}`);
        await stillAnswers(c);
        wsWitness.send(b('d500'));
        congWitness.send(b('d500'));
        await witnessesExchange();
      });

      it('tag lengths past the end: SIGNAL dropped, SUBSCRIBE/UNSUBSCRIBE ignored, SUBSCRIBE_REQ status 255 (§5.1, §5.5)', T, async () => {
        const c = await ready(kind, link.memory);
        wsWitness.send(sub('abc'));
        await wsWitness.sync();
        c.send(b('d00a61626301'));
        c.send(Buffer.concat([b('d0ff'), Buffer.from('abc'), b('01')]));
        c.send(b('d3ff616263'));
        c.send(b('d5ff616263'));
        await assertQuiet(c, wsWitness);
        c.send(b('d4 0001 00ff 616263'));
        await expectMsg(c, b('ddff00015b5b22737461747573222c2238222c312c315d2c5b226d6964222c223136222c322c325d5d0025'), 'SUBSCRIBE_REQ status 255');
        assert.deepEqual((await iam(c)).tag, []);
        wsWitness.send(b('d500'));
        await witnessesExchange();
      });

      it('invalid UTF-8 tags (ff fe) are not routed or subscribed, not even as U+FFFD', T, async () => {
        const c = await ready(kind, link.memory);
        const replacement = '\ufffd\ufffd';
        wsWitness.send(sub(replacement));
        await wsWitness.sync();
        const before0 = server.metrics().badMessages;
        c.send(b('d002fffe0100')); // SIGNAL
        c.send(b('d0036166fe0100'));
        c.send(b('d0034066fe0100')); // CID publish
        c.send(Buffer.concat([b('d0'), Buffer.from([wsWitness.cid.length + 3]), Buffer.from(wsWitness.cid + '@'), b('fffe'), b('0100')])); // unicast
        await c.sync();
        await assertQuiet(wsWitness);
        c.send(b('d302fffe')); // SUBSCRIBE
        c.send(b('d502fffe')); // UNSUBSCRIBE
        const before1 = server.metrics().badMessages;
        assert.ok(before1 >= before0 + 4, `badMessages ${before0} → ${before1}`);
        assert.deepEqual((await iam(c)).tag, [], 'nothing subscribed');
        c.send(subReq(5, 'ok'));
        await expectMsg(c, b('dd0000055b5b22737461747573222c2238222c312c315d2c5b226d6964222c223136222c322c325d5d0025'));
        const bad = subReq(6, 'xy');
        bad[5] = 0xff;
        bad[6] = 0xfe;
        c.send(bad);
        const res = await c.next();
        assert.equal(res[0], MSG.RESPONSE_MBP, 'SUBSCRIBE_REQ with an invalid tag still gets an answer');
        assert.equal(res.readUInt16BE(2), 6);
        assert.deepEqual((await iam(c)).tag, ['CH:ok']);
        const m = text(replacement, 'x');
        wsWitness.send(m);
        await expectMsg(wsWitness, m, 'witness self delivery on U+FFFD U+FFFD');
        await assertQuiet(c);
        wsWitness.send(b('d500'));
        await witnessesExchange();
      });

      it('ws text frames are counted in metrics().textMessages, get no reply, keep the connection (§1.1)', only('ws', 'text frames exist only on ws'), async () => {
        const before0 = server.metrics().textMessages;
        const early = await fresh('ws', link.memory);
        early.sendText('before CID_REQ');
        const c = await ready('ws', link.memory);
        c.sendText('plain text frame');
        c.sendText('');
        c.sendText('\u00e9\u4e2d');
        await assertQuiet(early, c);
        assert.equal(server.metrics().textMessages, before0 + 4);
        await stillAnswers(c);
        await stillAnswers(early);
        await witnessesExchange();
      });

      it('AUTH_REQ and ENC_488/ENC_E2E garbage before any auth: no crash, no authorisation (§4, Q18, Q20)', T, async () => {
        const garbage = [
          Buffer.concat([b('b1'), Buffer.alloc(44, 0x5a)]), // AUTH_REQ of the right size, unknown id
          b('b1010203'),
          b('b1'),
          Buffer.concat([b('b8'), Buffer.alloc(20, 0)]), // ENC_488 with an empty payload (21 bytes)
          Buffer.concat([b('b8 0a000000'), Buffer.alloc(26, 0x33)]),
          Buffer.concat([b('b8 ffffffff'), Buffer.alloc(16, 0x33)]),
          b('b8'),
          Buffer.concat([b('b7 03000000'), Buffer.alloc(30, 0x44)]),
          Buffer.concat([b('b2'), Buffer.alloc(32, 1)]),
          Buffer.concat([b('b0'), Buffer.alloc(12, 1)]),
          b('b3'),
          b('b6 01'),
        ];
        const pre = await fresh(kind, link.memory);
        const post = await ready(kind, link.memory);
        for (const g of garbage) {
          pre.send(g);
          post.send(g);
        }
        // No wait for the AUTH_FAIL delay: the sync ECHO below is held behind the login attempts and replayed after them.
        for (const c of [pre, post]) {
          const got = (await c.sync()).map(hex);
          // AUTH_FAIL answers the login attempts; B0 is a boho 1.x nonce request (iosignal 2.x clients), answered
          // with a 13-byte B1 nonce. Nothing else may come back.
          for (const m of got) {
            const legacyNonce = m.startsWith('b1') && m.length === 26;
            assert.ok(m === 'b3' || legacyNonce, `only AUTH_FAIL or a legacy nonce may answer garbage (got ${got.join(',')})`);
          }
          assert.equal(got.filter((m) => m.startsWith('b1')).length, 1, 'one legacy nonce for the one B0');
          await stillAnswers(c);
        }
        pre.send(CID_REQ);
        const res = await pre.next();
        assert.equal(res[0], MSG.CID_RES, `CID_RES is plaintext: ${hex(res)}`);
        assert.match(res.subarray(1).toString(), /^\?[A-Za-z0-9_-]{4}$/);
        const info = await iam(post);
        assert.equal(info.did, '');
        await witnessesExchange();
      });
    });
  }
});
