// Session encryption and the E2E relay (docs/protocol.md §4.5–4.7; Q9, Q20): encrypted signals between logged-in
// ws and cong clients, plaintext for anonymous receivers, refused and broken encrypted input, oversized frames.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientPool } from '../kit/raw-client.js';
import { startServer, type IosigServer, TRANSPORTS } from '../kit/server.js';
import { MSG } from '../../src/protocol/codes.js';
import { decryptE2E } from '../../src/crypto/boho.js';
import { parseSignal } from '../../src/protocol/payload.js';
import { type Peer, drained, loggedIn, openPeer, signalE2E, textSignal } from '../kit/peer.js';
import { hex, sub } from '../kit/messages.js';

const PARAM = 'encw.kw.EW.3,encc.kc.EC.3,e2ew.k2w.E2W.3,e2ec.k2c.E2C.3,echo.ke.ECHO.3,bad.kb.BAD.3,big.kbig.BIG.3';

describe('encrypted signals between logged-in and anonymous clients', () => {
  let server: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    server = await startServer({ auth: { param: PARAM }, authFailDelay: 100 });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(async () => {
    await server.close();
  });

  /** Logged-in ws + cong, anonymous ws + cong, all subscribed to `tag` (subscriptions sent encrypted by the logged-in ones). */
  async function room(tag: string): Promise<{ aw: Peer; ac: Peer; nw: Peer; nc: Peer }> {
    const aw = await loggedIn(pool, server, 'ws', 'encw', 'kw');
    const ac = await loggedIn(pool, server, 'cong', 'encc', 'kc');
    const nw = await openPeer(pool, server, 'ws');
    const nc = await openPeer(pool, server, 'cong');
    await nw.anonymousCid();
    await nc.anonymousCid();
    aw.sendEnc(sub(tag));
    ac.sendEnc(sub(tag));
    nw.wire.send(sub(tag));
    nc.wire.send(sub(tag));
    for (const p of [aw, ac, nw, nc]) await p.quiet();
    return { aw, ac, nw, nc };
  }

  it('an encrypted publish reaches logged-in receivers as ENC_488 and anonymous ones as plaintext (both directions)', async () => {
    const { aw, ac, nw, nc } = await room('enc');
    for (const [from, to] of [
      [aw, ac],
      [ac, aw],
    ] as const) {
      const signal = textSignal('enc', `from ${from.wire.kind}`);
      const sealed = from.seal(signal);
      from.wire.send(sealed);
      const got = await to.nextPlain();
      assert.equal(got.wire[0], MSG.ENC_488, `${to.wire.kind} receives ENC_488`);
      assert.equal(hex(got.plain), hex(signal), 'and it decrypts to the plain SIGNAL');
      assert.notEqual(hex(got.wire.subarray(21)), hex(sealed.subarray(21)), 're-encrypted for the receiver');
      const self = await from.nextPlain();
      assert.equal(self.encrypted, true, 'self delivery is encrypted too');
      assert.equal(hex(self.plain), hex(signal));
      for (const anon of [nw, nc]) {
        const plain = await anon.wire.next(2000);
        assert.equal(hex(plain), hex(signal), `anonymous ${anon.wire.kind} gets the plaintext SIGNAL`);
      }
    }
  });

  it('a logged-in client may also publish plaintext; logged-in receivers still get it encrypted', async () => {
    const { aw, ac, nw, nc } = await room('mixed');
    const signal = textSignal('mixed', 'plain from a member');
    ac.wire.send(signal);
    for (const member of [aw, ac]) {
      const got = await member.nextPlain();
      assert.equal(got.encrypted, true);
      assert.equal(hex(got.plain), hex(signal));
    }
    for (const anon of [nw, nc]) assert.equal(hex(await anon.wire.next(2000)), hex(signal));
    // Anonymous → members: encrypted for members.
    const back = textSignal('mixed', 'from anonymous');
    nw.wire.send(back);
    for (const member of [aw, ac]) {
      const got = await member.nextPlain();
      assert.equal(got.wire[0], MSG.ENC_488);
      assert.equal(hex(got.plain), hex(back));
    }
    for (const anon of [nw, nc]) assert.equal(hex(await anon.wire.next(2000)), hex(back));
  });

  for (const kind of TRANSPORTS) {
    it(`ECHO replies go through encryption for a logged-in session (Q9), the 30-byte limit stays (${kind})`, async () => {
      const p = await loggedIn(pool, server, kind, 'echo', 'ke');
      const echo = Buffer.from('cc68656c6c6f', 'hex');
      p.wire.send(echo);
      const plainReq = await p.nextPlain();
      assert.equal(plainReq.wire[0], MSG.ENC_488, 'reply to a plaintext ECHO is ENC_488');
      assert.equal(hex(plainReq.plain), hex(echo));
      p.sendEnc(echo);
      const encReq = await p.nextPlain();
      assert.equal(encReq.wire[0], MSG.ENC_488, 'reply to an encrypted ECHO is ENC_488');
      assert.equal(hex(encReq.plain), hex(echo));
      p.wire.send(Buffer.concat([Buffer.from([MSG.ECHO]), Buffer.alloc(29, 0x61)]));
      await p.quiet();
      // Anonymous: plaintext reply.
      const anon = await openPeer(pool, server, kind);
      anon.wire.send(echo);
      assert.equal(hex(await anon.wire.next(2000)), hex(echo));
    });

    it(`Q20: ENC_488 / ENC_E2E from a connection that is not logged in are dropped (${kind})`, async () => {
      const member = await loggedIn(pool, server, kind === 'ws' ? 'cong' : 'ws', 'bad', 'kb');
      const listener = await openPeer(pool, server, 'ws');
      await listener.anonymousCid();
      listener.wire.send(sub('q20'));
      await listener.quiet();
      const anon = await openPeer(pool, server, kind);
      await anon.anonymousCid();
      const before = server.metrics().badMessages;
      // Valid ciphertexts for the member's session, replayed on the anonymous connection.
      anon.wire.send(member.seal(textSignal('q20', 'sneaky')));
      anon.wire.send(member.boho.sealE2E(signalE2E('q20', member.boho.encryptE2E(Buffer.from('x'), 'p')), 6)!);
      // And an ENC_488 of IAM: no IAM_RES may come back.
      anon.wire.send(member.seal(Buffer.from([MSG.IAM])));
      await anon.quiet();
      await listener.quiet();
      assert.equal(server.metrics().badMessages, before + 3, 'each dropped message is counted');
      assert.equal(anon.wire.closed, false, 'the connection stays open');
      // A failed login does not enable decryption either.
      anon.wire.send(anon.authReq('bad', 'wrong'));
      assert.equal(hex(await anon.wire.next(2000)), 'b3');
      anon.wire.send(member.seal(textSignal('q20', 'still sneaky')));
      await anon.quiet();
      await listener.quiet();
    });

    it(`broken ENC_488 (bad hmac, empty, truncated, garbage) is dropped and the connection stays (${kind})`, async () => {
      const listener = await openPeer(pool, server, 'cong');
      await listener.anonymousCid();
      listener.wire.send(sub('broken'));
      await listener.quiet();
      const p = await loggedIn(pool, server, kind, 'bad', 'kb');
      const good = p.seal(textSignal('broken', 'ok'));
      const badHmac = Buffer.from(good);
      badHmac[13]! ^= 0xff;
      const badBody = Buffer.from(good);
      badBody[good.length - 1]! ^= 0x01;
      const emptyHeader = p.seal(Buffer.alloc(0));
      assert.equal(emptyHeader.length, 21);
      const cases: [string, Buffer][] = [
        ['bad hmac8', badHmac],
        ['flipped ciphertext byte', badBody],
        ['bare type byte', Buffer.from([MSG.ENC_488])],
        ['empty plaintext (21-byte header)', emptyHeader],
        ['truncated (len larger than the data)', good.subarray(0, good.length - 3)],
        ['header cut short', good.subarray(0, 15)],
        ['random bytes', Buffer.concat([Buffer.from([MSG.ENC_488]), Buffer.from('00ff00ff11223344556677889900aabbccddeeff0102', 'hex')])],
      ];
      for (const [what, bytes] of cases) {
        const before = server.metrics().badMessages;
        p.wire.send(bytes);
        await p.quiet();
        await listener.quiet();
        assert.equal(server.metrics().badMessages, before + 1, `${what}: counted as a bad message`);
        assert.equal(p.wire.closed, false, `${what}: connection stays`);
      }
      // The session still works afterwards.
      p.wire.send(good);
      assert.equal(hex(await listener.wire.next(2000)), hex(textSignal('broken', 'ok')));
      // A second ENC_488 inside an ENC_488 is not opened.
      const nestedBefore = server.metrics().badMessages;
      p.sendEnc(p.seal(textSignal('broken', 'nested')));
      await p.quiet();
      await listener.quiet();
      assert.equal(server.metrics().badMessages, nestedBefore + 1, 'nested encryption is dropped');
    });
  }

  it('E2E relay: ENC_E2E from a member reaches members as ENC_E2E and anonymous receivers as SIGNAL_E2E (both directions)', async () => {
    const sw = await loggedIn(pool, server, 'ws', 'e2ew', 'k2w');
    const sc = await loggedIn(pool, server, 'cong', 'e2ec', 'k2c');
    const nw = await openPeer(pool, server, 'ws');
    const nc = await openPeer(pool, server, 'cong');
    await nw.anonymousCid();
    await nc.anonymousCid();
    sw.sendEnc(sub('e2e'));
    sc.wire.send(sub('e2e'));
    nw.wire.send(sub('e2e'));
    nc.wire.send(sub('e2e'));
    for (const p of [sw, sc, nw, nc]) await p.quiet();
    const passphrase = 'shared e2e secret';
    for (const [from, to] of [
      [sw, sc],
      [sc, sw],
    ] as const) {
      const data = Buffer.from(`end to end from ${from.wire.kind} \u00e9`, 'utf8');
      const pack = from.boho.encryptE2E(data, passphrase);
      assert.equal(pack[0], MSG.ENC_PACK);
      const plainE2E = signalE2E('e2e', pack);
      const sealed = from.boho.sealE2E(plainE2E, 3 + 3);
      assert.ok(sealed);
      assert.equal(sealed[0], MSG.ENC_E2E);
      from.wire.send(sealed);
      for (const member of [to, from]) {
        const got = await member.nextPlain();
        assert.equal(got.wire[0], MSG.ENC_E2E, `${member.wire.kind} member receives ENC_E2E (B7)`);
        assert.equal(got.wire.readUInt32LE(1), 6, 'hlen = 3 + tagLen');
        assert.equal(hex(got.wire.subarray(21 + 6)), hex(pack), 'the ENC_PACK travels untouched');
        assert.equal(hex(got.plain), hex(plainE2E), 'openE2E gives the same SIGNAL_E2E');
        const parsed = parseSignal(got.plain);
        assert.ok(parsed);
        assert.equal(parsed.type, MSG.SIGNAL_E2E);
        assert.equal(hex(decryptE2E(parsed.payload, passphrase) ?? Buffer.alloc(0)), hex(data), 'decryptE2E gives the data');
        assert.equal(decryptE2E(parsed.payload, 'wrong passphrase'), null);
      }
      for (const anon of [nw, nc]) {
        const got = await anon.wire.next(2000);
        assert.equal(hex(got), hex(plainE2E), `anonymous ${anon.wire.kind} gets the plain SIGNAL_E2E`);
      }
    }
    // A plain SIGNAL_E2E from an anonymous sender reaches members as ENC_E2E.
    const pack = nw.boho.encryptE2E(Buffer.from('anon data'), passphrase);
    const anonE2E = signalE2E('e2e', pack);
    nw.wire.send(anonE2E);
    for (const member of [sw, sc]) {
      const got = await member.nextPlain();
      assert.equal(got.wire[0], MSG.ENC_E2E);
      assert.equal(hex(got.plain), hex(anonE2E));
    }
    assert.equal(hex(await nw.wire.next(2000)), hex(anonE2E));
    assert.equal(hex(await nc.wire.next(2000)), hex(anonE2E));
  });
});

describe('oversized encrypted frames', () => {
  let server: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    server = await startServer({ auth: { param: PARAM }, maxMessageSize: 256 });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(async () => {
    await server.close();
  });

  for (const kind of TRANSPORTS) {
    it(`an ENC_488 over maxMessageSize closes the connection; one under it is accepted (${kind})`, async () => {
      const p = await loggedIn(pool, server, kind, 'big', 'kbig');
      p.sendEnc(sub('big'));
      const fits = textSignal('big', 'x'.repeat(200));
      p.sendEnc(fits);
      const self = await p.nextPlain();
      assert.equal(hex(self.plain), hex(fits));
      const sealed = p.seal(textSignal('big', 'y'.repeat(300)));
      assert.ok(sealed.length > 256);
      p.wire.send(sealed);
      await p.wire.waitClosed(2000);
    });
  }
});
