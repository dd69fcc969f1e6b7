// Issue 16 item 4: sockets that never finish their opening. Every socket the node listeners accept (CongSocket,
// plain or TLS, and the mutual-TLS WebSocket front) is counted from its accept: it must finish its TLS handshake
// within handshakeTimeout and send its first frame (or its request head, at the front) within openingTimeout, or
// it is closed and counted; and sockets still opening have a budget per address and in all, so one address
// cannot hold the places that others need.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
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
    // One socket per address: nobody holds two more than the newcomer would, so nobody's place is taken.
    await silent('cong', '127.0.0.2');
    await silent('cong', '127.0.0.7');
    await silent('ws', '127.0.0.3');
    await silent('ws', '127.0.0.8');
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

  it('shares a full global budget: a newcomer takes the oldest place of the address holding the most', async () => {
    // Two attacker addresses fill the budget of 5 with silent sockets (3 + 2): before, every other client was
    // refused at accept on both TLS ports for as long as they kept reopening what was closed.
    const before = inside(server).stats.refusedHandshakes;
    const oldest = await silent('cong', '127.0.0.2');
    await silent('ws', '127.0.0.2');
    await silent('cong', '127.0.0.2');
    await silent('ws', '127.0.0.3');
    await silent('cong', '127.0.0.3');
    await waitFor(() => server.metrics().openingSockets === 5, 2000, 'the budget full');
    const client = await pool.ready('cong', portOf(server, 'cong'), { localAddress: '127.0.0.5', tls: tlsOptions() });
    assert.ok(client.cid, 'a client from another address gets in over the TLS CongSocket port');
    assert.ok(await oldest.closedWithin(2000), 'the oldest socket of .2 gave its place');
    // .2 now holds 2 like .3; one more silent socket fills the budget, and the next newcomer takes a place again.
    await silent('cong', '127.0.0.4');
    await waitFor(() => server.metrics().openingSockets === 5, 2000, 'the budget full again');
    const ws = await pool.ready('ws', portOf(server, 'ws'), { localAddress: '127.0.0.5', tls: tlsOptions() });
    assert.ok(ws.cid, 'and over the mutual-TLS WebSocket front');
    assert.equal(inside(server).stats.refusedHandshakes - before, 2, 'each place taken is counted as a refusal');
    // Left: two sockets of one address and one each of two others. Nobody holds two more than .3 would: its
    // newcomer is refused, and nothing is evicted.
    await waitFor(() => server.metrics().openingSockets === 4, 2000, 'four silent sockets left');
    await silent('cong', '127.0.0.6');
    await waitFor(() => server.metrics().openingSockets === 5, 2000, 'the budget full a third time');
    const third = await silent('cong', '127.0.0.3');
    assert.ok(await third.closedWithin(2000), 'refused at accept');
    assert.equal(server.metrics().openingSockets, 5);
    assert.equal(inside(server).stats.refusedHandshakes - before, 3);
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

describe('a socket keeps its own place, whichever address of the server it reached', () => {
  let pki: TestPki;
  let server: IosigServer;
  const sockets: net.Socket[] = [];

  before(async () => {
    pki = makePki();
    // The default host `::` takes every loopback address, as a public host takes each of its addresses.
    server = await startServer({ host: '::', tls: { cert: pki.serverCert, key: pki.serverKey } });
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await server.close();
    pki.remove();
  });

  const connected = (socket: net.Socket): Promise<void> =>
    new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));

  it('two sockets from one client address and port to two server addresses hold two opening places', async () => {
    const port = portOf(server, 'cong');
    const localPort = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.5', () => {
        const { port: free } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    const first = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.5', localPort });
    sockets.push(first);
    await connected(first);
    const second = net.connect({ port, host: '127.0.0.2', localAddress: '127.0.0.5', localPort });
    sockets.push(second);
    await connected(second);
    await waitFor(() => server.metrics().openingSockets === 2, 2000, 'both counted');
    // The first finishes its TLS handshake and sends its first frame, then leaves; the second stays silent.
    const secure = tls.connect({ socket: first, rejectUnauthorized: false, servername: 'localhost' });
    await new Promise<void>((resolve) => secure.once('secureConnect', () => resolve()));
    secure.write(CID_REQ_FRAME);
    await waitFor(() => server.metrics().openingSockets === 1, 2000, 'the first opened');
    secure.destroy();
    await waitFor(() => inside(server).registry.sessions.size === 0, 2000, 'the first gone');
    // Before, both shared one entry (keyed by the peer's address and port): the second was out of the budgets.
    assert.equal(server.metrics().openingSockets, 1, 'the silent second socket is still counted as opening');
    assert.ok(!second.destroyed);
  });
});
