// TLS (wss and TLS CongSocket), mutual TLS and X-Forwarded-Proto (docs/protocol.md §1.1, §4.7): certificates are
// made with openssl at run time; a logged-in TLS session gets plaintext, never ENC_488.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientPool } from '../kit/raw-client.js';
import { sleep, waitFor } from '../kit/wait.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { MSG } from '../../src/protocol/codes.js';
import { Peer, TlsWire, drained, loggedIn, makePki, openPeer, textSignal, type TestPki, type TlsClientOptions, type TlsKind } from '../kit/peer.js';
import { ANON_CID, hex, sub } from '../kit/messages.js';

const PARAM = 'tlsw.k.TW.3,tlsc.k.TC.3,plain.k.PL.3,mtw.k.MW.3,mtc.k.MC.3,xfp.k.XFP.3,xfu.k.XFU.3';
const TLS_KINDS: readonly TlsKind[] = ['wss', 'tls-cong'];

function tlsPort(server: IosigServer, kind: TlsKind): number {
  return portOf(server, kind === 'wss' ? 'ws' : 'cong');
}

describe('TLS listeners (tls: { cert, key })', () => {
  let pki: TestPki;
  let server: IosigServer;
  const pool = new ClientPool();
  const wires: TlsWire[] = [];

  before(async () => {
    pki = makePki();
    server = await startServer({ auth: { param: PARAM }, tls: { cert: pki.serverCert, key: pki.serverKey } });
  });
  afterEach(async () => {
    await Promise.all(wires.splice(0).map((w) => w.close(500)));
    await pool.closeAll();
    await drained(server);
  });
  after(async () => {
    await server.close();
    pki.remove();
  });

  async function tlsPeer(kind: TlsKind, opts: TlsClientOptions = {}): Promise<Peer> {
    const wire = await TlsWire.connect(kind, tlsPort(server, kind), { ca: pki.read(pki.caCert), ...opts });
    wires.push(wire);
    const p = new Peer(wire);
    await p.greet();
    return p;
  }

  for (const kind of TLS_KINDS) {
    it(`${kind}: greeting, anonymous cid, and a login that stays plaintext (no ENC_488, §4.7)`, async () => {
      const anon = await tlsPeer(kind);
      assert.match(await anon.anonymousCid(), ANON_CID);
      const p = await tlsPeer(kind);
      const id = kind === 'wss' ? 'tlsw' : 'tlsc';
      const { cid } = await p.login(id, 'k', true);
      const { json, encrypted } = await p.iam();
      assert.equal(encrypted, false, 'IAM_RES is plaintext on TLS');
      assert.equal(json.did, id);
      const info = server.connectionList().find((c) => c.cid === cid);
      assert.ok(info);
      assert.equal(info.tls, true, 'connectionList shows tls');
      assert.equal(info.authorized, true);
      assert.equal(info.transport, kind === 'wss' ? 'ws' : 'cong');
      // Deliveries: an encrypted publish from a non-TLS member arrives plaintext on the TLS session.
      p.wire.send(sub('secure'));
      p.wire.send(Buffer.from('cc6869', 'hex'));
      assert.equal(hex(await p.wire.next(2000)), 'cc6869', 'ECHO reply plaintext on TLS');
      const member = await tlsPeer(kind === 'wss' ? 'tls-cong' : 'wss');
      await member.login(kind === 'wss' ? 'tlsc' : 'tlsw', 'k', true);
      const signal = textSignal('secure', 'over tls');
      member.sendEnc(signal); // a TLS client may still encrypt; the server must accept it
      const got = await p.wire.next(2000);
      assert.equal(hex(got), hex(signal), 'plain SIGNAL for the TLS receiver');
      assert.equal(server.connectionList().every((c) => c.tls), true);
    });
  }

  it('a plain ws:// or plain TCP client cannot speak to the TLS listeners', async () => {
    const ws = await pool.open('ws', tlsPort(server, 'wss'), { connectTimeoutMs: 1000 }).then(
      () => 'connected',
      () => 'refused',
    );
    assert.equal(ws, 'refused');
    const cong = await pool.open('cong', tlsPort(server, 'tls-cong'));
    cong.send(Buffer.from([MSG.CID_REQ]));
    await sleep(100); // a CongSocket reading of those bytes would answer within a millisecond
    assert.equal(cong.pending, 0, 'no protocol message over plain TCP');
    cong.destroy();
  });
});

describe('mutual TLS (tls: { cert, key, ca })', () => {
  let pki: TestPki;
  let server: IosigServer;
  const wires: TlsWire[] = [];

  before(async () => {
    pki = makePki();
    server = await startServer({ auth: { param: PARAM }, tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert } });
  });
  afterEach(async () => {
    await Promise.all(wires.splice(0).map((w) => w.close(500)));
    await drained(server);
  });
  after(async () => {
    await server.close();
    pki.remove();
  });

  for (const kind of TLS_KINDS) {
    it(`${kind}: a client certificate signed by the CA connects and logs in (plaintext session)`, async () => {
      const wire = await TlsWire.connect(kind, tlsPort(server, kind), {
        ca: pki.read(pki.caCert),
        cert: pki.read(pki.clientCert),
        key: pki.read(pki.clientKey),
      });
      wires.push(wire);
      const p = new Peer(wire);
      await p.greet();
      const { cid } = await p.login(kind === 'wss' ? 'mtw' : 'mtc', 'k', true);
      const info = server.connectionList().find((c) => c.cid === cid);
      assert.equal(info?.tls, true);
      assert.equal(info?.ip, '127.0.0.1');
    });

    for (const [what, rogue] of [
      ['no client certificate', false],
      ['a self-signed client certificate', true],
    ] as const) {
      it(`${kind}: ${what} is refused (no SERVER_TIME_NONCE), tlsRefused grows`, async () => {
        const before = server.metrics().tlsRefused;
        const opts: TlsClientOptions = { ca: pki.read(pki.caCert) };
        if (rogue) {
          opts.cert = pki.read(pki.rogueCert);
          opts.key = pki.read(pki.rogueKey);
        }
        const { wire, error } = await TlsWire.attempt(kind, tlsPort(server, kind), opts);
        if (wire) {
          // TLS 1.3: the client may finish its side before the server rejects its certificate.
          wires.push(wire);
          await wire.waitClosed(3000);
          assert.equal(wire.messagesReceived, 0, `nothing reaches a refused client (${wire.pending} unread)`);
        } else {
          assert.ok(error, 'the handshake fails');
        }
        await waitFor(() => server.metrics().tlsRefused > before, 2000, 'tlsRefused to grow');
        assert.equal(server.metrics().connections, 0, 'no connection was accepted');
      });
    }
  }
});

describe('X-Forwarded-Proto: https from a trusted proxy', () => {
  let server: IosigServer;
  let untrusting: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    server = await startServer({ auth: { param: PARAM } });
    untrusting = await startServer({ auth: { param: PARAM }, trustedProxies: ['10.9.9.9'] });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server, untrusting);
  });
  after(async () => {
    await server.close();
    await untrusting.close();
  });

  it('a plain ws connection from 127.0.0.1 with the header counts as TLS: no encryption after login', async () => {
    const p = await openPeer(pool, server, 'ws', { headers: { 'X-Forwarded-Proto': 'https' } });
    const { cid } = await p.login('xfp', 'k', true);
    assert.equal((await p.iam()).encrypted, false);
    assert.equal(server.connectionList().find((c) => c.cid === cid)?.tls, true);
    const plain = await loggedIn(pool, server, 'ws', 'plain', 'k');
    assert.equal(server.connectionList().find((c) => c.cid === plain.cid)?.tls, false, 'without the header: not TLS');
  });

  it('the header from an untrusted peer is ignored: the session is encrypted', async () => {
    const p = await openPeer(pool, untrusting, 'ws', { headers: { 'X-Forwarded-Proto': 'https' } });
    const { cid } = await p.login('xfu', 'k');
    assert.equal((await p.iam()).encrypted, true);
    assert.equal(untrusting.connectionList().find((c) => c.cid === cid)?.tls, false);
  });
});
