// The connection state machine over the in-memory link: the one close path, text frames, shutdown.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IosigServer, type ConnectionInfo } from '../../src/server.js';
import { MSG } from '../../src/protocol/codes.js';
import { encodeClose } from '../../src/protocol/messages.js';
import { waitFor } from '../kit/wait.js';
import { MemClient } from '../router/support.js';
import { inside } from '../kit/inside.js';

let server: IosigServer;
const lines: string[] = [];

describe('connection over the in-memory link', () => {
  before(async () => {
    server = await createServer({ congPort: 0, host: '127.0.0.1', http: false, log: (line) => lines.push(line) });
  });
  after(() => server.close());

  it('a client CLOSE with a reason ends the link once, with the reason logged and one disconnect event', async () => {
    const gone: ConnectionInfo[] = [];
    const onDisconnect = (info: ConnectionInfo): void => void gone.push(info);
    server.events.on('disconnect', onDisconnect);
    try {
      const client = await MemClient.open(server);
      let closes = 0;
      client.endpoint.on('close', () => closes++);
      const before = server.metrics().connections;
      client.send(encodeClose('bye'));
      await waitFor(() => client.closed, 2000, 'the link to close');
      await waitFor(() => server.metrics().connections === before - 1, 2000, 'the server to forget the connection');
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(closes, 1);
      assert.equal(gone.filter((info) => info.cid === client.cid).length, 1);
      assert.ok(lines.some((line) => line.includes('closing: client CLOSE: bye')), 'the reason is logged');
    } finally {
      server.events.off('disconnect', onDisconnect);
    }
  });

  it('a bare CLOSE is ignored (Q8)', async () => {
    const client = await MemClient.open(server);
    client.send(Buffer.from([MSG.CLOSE]));
    await client.sync();
    assert.equal(client.closed, false);
    client.close();
  });

  it('a peer that goes away is forgotten: its CID is released', async () => {
    const client = await MemClient.open(server);
    assert.equal(inside(server).router.cids.has(client.cid), true);
    client.close();
    await waitFor(() => !inside(server).router.cids.has(client.cid), 2000, 'the CID to be released');
  });

  it('text frames on the ws flavour reach text_message observers', async () => {
    const texts: string[] = [];
    const onText = (_info: ConnectionInfo, text: string): void => void texts.push(text);
    server.events.on('text_message', onText);
    try {
      const client = await MemClient.open(server, { transport: 'ws' });
      client.endpoint.sendText('hello there');
      await client.sync();
      assert.deepEqual(texts, ['hello there']);
      client.close();
    } finally {
      server.events.off('text_message', onText);
    }
  });

  it('the peer address and TLS flag come from the options', async () => {
    const client = await MemClient.open(server, { transport: 'cong', tls: true, peerIp: '198.51.100.7' });
    const info = inside(server).connectionByCid(client.cid)!;
    assert.equal(info.ip, '198.51.100.7');
    assert.equal(info.tls, true);
    assert.equal(info.transport, 'cong');
    client.close();
  });

  it('contain(): a deferred callback that throws closes that connection only', async () => {
    const [victim, bystander] = await Promise.all([MemClient.open(server), MemClient.open(server)]);
    const conn = [...inside(server).registry.sessions].find((c) => c.cid === victim.cid)!;
    const errors = server.metrics().internalErrors;
    conn.contain('a test callback', () => {
      throw new Error('boom');
    });
    await waitFor(() => victim.closed, 2000, 'the failing connection to be dropped');
    assert.equal(server.metrics().internalErrors, errors + 1, 'counted as iosig_internal_errors_total');
    assert.ok(lines.some((line) => line.includes('internal error in a test callback: Error: boom')));
    let ran = false;
    conn.contain('after close', () => {
      ran = true;
    });
    assert.equal(ran, false, 'nothing runs for a closed connection');
    await bystander.sync();
    bystander.close();
  });

  it('server shutdown ends in-memory links', async () => {
    const own = await createServer({ congPort: 0, host: '127.0.0.1', http: false, log: () => {} });
    const client = await MemClient.open(own);
    await own.close();
    await waitFor(() => client.closed, 2000, 'the link to close on shutdown');
  });
});
