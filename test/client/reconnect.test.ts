// Automatic reconnect with backoff, and resubscription of every remembered channel after a server restart.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IoClient } from '../../src/client/index.js';
import type { IosigServer } from '../../src/index.js';
import { nextEvent } from './support.js';
import { startServer, urlOf } from '../kit/server.js';

describe('IoClient across a server restart', () => {
  const clients: IoClient[] = [];
  let server: IosigServer | undefined;

  after(async () => {
    for (const client of clients.splice(0)) client.close();
    await server?.close();
  });

  it('reconnects on both transports and resubscribes every channel', { timeout: 20_000 }, async () => {
    server = await startServer();
    const wsPort = server.wsPort!;
    const congPort = server.congPort!;
    const options = { reconnectDelayMs: 50, reconnectMaxDelayMs: 200 };
    const ws = new IoClient(urlOf(server, 'ws'), options);
    const cong = new IoClient(urlOf(server, 'cong'), options);
    clients.push(ws, cong);
    ws.subscribe('room,lobby');
    cong.subscribe('room');
    cong.subscribe('#home');
    await Promise.all([ws.whenReady(3000), cong.whenReady(3000)]);

    const wsClosed = nextEvent(ws, 'close', 3000);
    const congClosed = nextEvent(cong, 'close', 3000);
    await server.close();
    const [[wsInfo], [congInfo]] = await Promise.all([wsClosed, congClosed]);
    assert.equal(wsInfo.wasReady, true);
    assert.equal(wsInfo.willReconnect, true);
    assert.equal(congInfo.willReconnect, true);
    assert.equal(ws.cid, '', 'the CID is forgotten with the connection');

    // While the server is down, attempts fail and the delay grows up to the cap.
    const [refused] = await nextEvent(ws, 'close', 3000);
    assert.ok(refused.error, 'a refused attempt carries the socket error');
    assert.ok((refused.reconnectInMs ?? 0) >= 100);

    server = await startServer({ port: wsPort, congPort });
    const [[wsCid], [congCid]] = await Promise.all([nextEvent(ws, 'ready', 5000), nextEvent(cong, 'ready', 5000)]);
    assert.match(wsCid, /^\?/);
    assert.match(congCid, /^\?/);
    assert.deepEqual((await ws.iam()).tag, ['CH:room', 'CH:lobby']);
    assert.deepEqual((await cong.iam()).tag, ['CH:room', 'PRIVATE:#home']);

    const publisher = new IoClient(urlOf(server, 'cong'), options);
    clients.push(publisher);
    await publisher.whenReady(3000);
    const atWs = nextEvent(ws, 'message', 2000, (m) => m.tag === 'room');
    const atCong = nextEvent(cong, 'message', 2000, (m) => m.tag === 'room');
    publisher.signal('room', 'back again');
    assert.deepEqual((await atWs)[0].values, ['back again']);
    assert.deepEqual((await atCong)[0].values, ['back again']);
  });
});
