// Issue 16 item 4: sockets that never finish their opening. Every socket the node listeners accept (CongSocket,
// plain or TLS, and the mutual-TLS WebSocket front) is counted from its accept: it must finish its TLS handshake
// within handshakeTimeout and send its first frame (or its request head, at the front) within openingTimeout, or
// it is closed and counted; and sockets still opening have a budget per address and in all, so one address
// cannot hold the places that others need.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IdleSocket } from '../kit/idle-socket.js';
import { ClientPool } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { parsePrometheus, request, sampleValue } from '../http/support.js';
import { makePki, type TestPki } from '../kit/peer.js';
import { inside } from '../kit/inside.js';

const CID_REQ_FRAME = Buffer.from([0x01, 0x01, 0xc1]);

describe('opening deadlines', () => {
  const pool = new ClientPool();
  const idle: IdleSocket[] = [];
  let pki: TestPki;
  let plain: IosigServer;
  let mutual: IosigServer;
  const plainLines: string[] = [];
  const mutualLines: string[] = [];

  before(async () => {
    pki = makePki();
    plain = await startServer({ openingTimeout: 400 }, plainLines);
    mutual = await startServer(
      { openingTimeout: 400, handshakeTimeout: 400, tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert } },
      mutualLines,
    );
  });
  afterEach(async () => {
    for (const socket of idle.splice(0)) socket.destroy();
    await pool.closeAll();
  });
  after(async () => {
    await plain.close();
    await mutual.close();
    pki.remove();
  });

  it('CongSocket: a socket that sends no frame is closed at openingTimeout; one that speaks stays', async () => {
    const silent = await IdleSocket.open(portOf(plain, 'cong'), '127.0.0.2');
    idle.push(silent);
    const talker = await pool.ready('cong', portOf(plain, 'cong'), { localAddress: '127.0.0.3' });
    assert.ok(await silent.closedWithin(5000), 'the silent socket is closed');
    assert.ok(silent.bytes > 0, 'it was greeted first (it was a connection, not a refusal)');
    assert.equal(talker.closed, false, 'the client that sent CID_REQ is not touched');
    assert.equal(inside(plain).stats.openingTimeouts, 1);
    await waitFor(() => inside(plain).registry.sessions.size === 1, 2000, 'the silent connection to be forgotten');
    assert.ok(plainLines.some((line) => /closed a socket from 127\.0\.0\.2 that sent no frame within 400 ms/.test(line)), plainLines.join('\n'));
    const metrics = parsePrometheus((await request(plain.wsPort!, '/metrics')).body);
    assert.equal(sampleValue(metrics, 'iosig_opening_timeouts_total{stage="first_message"}'), 1);
    assert.equal(sampleValue(metrics, 'iosig_sockets_opening'), 0);
    assert.equal(sampleValue(metrics, 'iosig_connections_refused_total{cap="handshakes_per_address"}'), 0);
    assert.equal(sampleValue(metrics, 'iosig_listener_paused'), 0);
  });

  it('TLS: a socket that never starts its handshake is closed at handshakeTimeout, on CongSocket and at the front', async () => {
    const cong = await IdleSocket.open(portOf(mutual, 'cong'), '127.0.0.2');
    const front = await IdleSocket.open(portOf(mutual, 'ws'), '127.0.0.2');
    idle.push(cong, front);
    assert.ok(await cong.closedWithin(5000), 'CongSocket over TLS closes the silent socket');
    assert.ok(await front.closedWithin(5000), 'the TLS front closes the silent socket');
    assert.equal(inside(mutual).stats.handshakeTimeouts, 2);
    await waitFor(() => mutual.metrics().openingSockets === 0, 2000, 'their places to be given back');
  });

  it('the mutual-TLS front closes a verified peer that sends no request head within openingTimeout; a WebSocket client gets in', async () => {
    const tlsOptions = { ca: pki.read(pki.caCert), cert: pki.read(pki.clientCert), key: pki.read(pki.clientKey) };
    const before = inside(mutual).stats.openingTimeouts;
    const quiet = await IdleSocket.openTls(portOf(mutual, 'ws'), '127.0.0.2', tlsOptions);
    idle.push(quiet);
    assert.equal(quiet.closed, false, 'the handshake succeeded');
    const client = await pool.ready('ws', portOf(mutual, 'ws'), { localAddress: '127.0.0.3', tls: tlsOptions });
    assert.ok(await quiet.closedWithin(5000), 'closed for want of a request');
    assert.equal(inside(mutual).stats.openingTimeouts - before, 1);
    assert.equal(client.closed, false);
    assert.ok(mutualLines.some((line) => /that sent no request head within 400 ms/.test(line)), mutualLines.join('\n'));
    await waitFor(() => mutual.metrics().openingSockets === 0, 2000, 'the places to be given back');
  });
});

describe('budgets of sockets still opening', () => {
  const pool = new ClientPool();
  const idle: IdleSocket[] = [];
  let pki: TestPki;
  let server: IosigServer;
  const lines: string[] = [];

  before(async () => {
    pki = makePki();
    server = await startServer(
      {
        maxHandshakesPerAddress: 3,
        maxHandshakes: 5,
        maxConnectionsPerAddress: 4,
        tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert },
      },
      lines,
    );
  });
  afterEach(async () => {
    for (const socket of idle.splice(0)) socket.destroy();
    await pool.closeAll();
    await waitFor(() => server.metrics().openingSockets === 0 && inside(server).registry.sessions.size === 0, 3000, 'every place given back');
  });
  after(async () => {
    await server.close();
    pki.remove();
  });

  const tlsOptions = (): { ca: Buffer; cert: Buffer; key: Buffer } => ({ ca: pki.read(pki.caCert), cert: pki.read(pki.clientCert), key: pki.read(pki.clientKey) });

  async function silent(kind: 'ws' | 'cong', from: string): Promise<IdleSocket> {
    const socket = await IdleSocket.open(portOf(server, kind), from);
    idle.push(socket);
    return socket;
  }

  it('refuses a fourth silent socket from one address at accept, on either port; another address still gets in', async () => {
    await silent('cong', '127.0.0.2');
    await silent('ws', '127.0.0.2');
    await silent('cong', '127.0.0.2');
    await waitFor(() => server.metrics().openingSockets === 3, 2000, 'three sockets counted');
    const fourth = await silent('ws', '127.0.0.2');
    assert.ok(await fourth.closedWithin(2000), 'the fourth is closed at once');
    assert.equal(inside(server).stats.refusedHandshakesAddress, 1);
    // A real client from another address: TLS handshake, greeting, CID.
    const client = await pool.ready('cong', portOf(server, 'cong'), { localAddress: '127.0.0.3', tls: tlsOptions() });
    assert.ok(client.cid);
    const ws = await pool.ready('ws', portOf(server, 'ws'), { localAddress: '127.0.0.3', tls: tlsOptions() });
    assert.ok(ws.cid);
    assert.equal(server.metrics().openingSockets, 3, 'clients that finished their opening hold no opening place');
    assert.ok(lines.some((line) => /latest from 127\.0\.0\.2: over the cap of 3 sockets still opening per address/.test(line)), lines.join('\n'));
  });

  it('holds the global budget too, and a socket that finishes its opening frees its place', async () => {
    const before = inside(server).stats.refusedHandshakes;
    await silent('cong', '127.0.0.2');
    await silent('cong', '127.0.0.2');
    await silent('ws', '127.0.0.3');
    await silent('ws', '127.0.0.3');
    const fifth = await IdleSocket.openTls(portOf(server, 'cong'), '127.0.0.4', tlsOptions());
    idle.push(fifth);
    await waitFor(() => server.metrics().openingSockets === 5, 2000, 'five sockets counted');
    const sixth = await silent('cong', '127.0.0.5');
    assert.ok(await sixth.closedWithin(2000), 'over the global budget: closed at once');
    assert.equal(inside(server).stats.refusedHandshakes - before, 1);
    // The TLS peer from .4 sends its first frame: its opening is over.
    fifth.socket.write(CID_REQ_FRAME);
    await waitFor(() => server.metrics().openingSockets === 4, 2000, 'the place to be freed');
    const client = await pool.ready('cong', portOf(server, 'cong'), { localAddress: '127.0.0.5', tls: tlsOptions() });
    assert.ok(client.cid, 'a newcomer gets the freed place');
  });

  it('counts a socket once from its accept to its close: silent sockets and connections share the per-address cap', async () => {
    // Connections from .6 through the front and over CongSocket, then silent sockets: four in all from one address.
    await pool.ready('ws', portOf(server, 'ws'), { localAddress: '127.0.0.6', tls: tlsOptions() });
    await pool.ready('cong', portOf(server, 'cong'), { localAddress: '127.0.0.6', tls: tlsOptions() });
    await silent('cong', '127.0.0.6');
    await silent('ws', '127.0.0.6');
    await waitFor(() => server.metrics().openingSockets === 2, 2000, 'two sockets counted');
    const before = inside(server).stats.refusedAddress;
    const fifth = await silent('cong', '127.0.0.6');
    assert.ok(await fifth.closedWithin(2000), 'the fifth socket from .6 is over the 4-connection cap');
    assert.equal(inside(server).stats.refusedAddress - before, 1);
  });
});
