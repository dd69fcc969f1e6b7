// Issue 16 item 10: who sent a message, as a plain JSON device sees it. `from` is the publisher's CID on every
// path — live, unicast, retained replay — and only the server's own messages carry "server": true, a field no
// client can produce. Publishers here come over real sockets and over the in-memory link.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { PAYLOAD } from '../../src/protocol/codes.js';
import { ClientPool } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { startServer, type IosigServer } from '../kit/server.js';
import { DevicePool } from './ws-device.js';
import { inside } from '../kit/inside.js';
import { text } from '../kit/messages.js';

describe('"from" and "server" on the plain JSON endpoint (issue 16 item 10)', () => {
  let server: IosigServer;
  const pool = new ClientPool();
  const devices = new DevicePool();

  before(async () => {
    server = await startServer();
  });
  afterEach(async () => {
    devices.closeAll();
    await pool.closeAll();
  });
  after(() => server.close());

  it('a retained replay names the device that published it, not "" (the EVACUATE NOW forgery)', async () => {
    const { device: writer, cid: writerCid } = await devices.json(server.wsPort!, 'idle');
    writer.sendText(JSON.stringify({ to: 'alerts$last', payload: 'EVACUATE NOW' }));
    await waitFor(() => inside(server).router.retained.has('CH:alerts$last'), 2000, 'the alert retained');
    const { device: reader } = await devices.json(server.wsPort!, 'alerts$last');
    assert.deepEqual(await reader.nextJson(), { tag: 'alerts$last', from: writerCid, type: 'TEXT', payload: 'EVACUATE NOW' });
  });

  it('live signals name their publisher (socket or in-memory link); only the server marks its own', async () => {
    const { device } = await devices.json(server.wsPort!, 'alerts');
    const overSocket = await pool.ready('cong', server.congPort!);
    const inMemory = await pool.ready('ws', { memory: server });
    overSocket.send(text('alerts', 'one'));
    assert.deepEqual(await device.nextJson(), { tag: 'alerts', from: overSocket.cid, type: 'TEXT', payload: 'one' });
    inMemory.send(text('alerts', 'two'));
    assert.deepEqual(await device.nextJson(), { tag: 'alerts', from: inMemory.cid, type: 'TEXT', payload: 'two' });
    // A client that never took a CID publishes as "": still not the server.
    const noCid = await pool.open('cong', server.congPort!);
    noCid.send(text('alerts', 'three'));
    assert.deepEqual(await device.nextJson(), { tag: 'alerts', from: '', type: 'TEXT', payload: 'three' });
    server.sendSignal('alerts', PAYLOAD.TEXT, Buffer.from('four\0'));
    assert.deepEqual(await device.nextJson(), { tag: 'alerts', from: '', server: true, type: 'TEXT', payload: 'four' });
    server.sendSignal('alerts', PAYLOAD.TEXT, Buffer.from('five\0'), true);
    assert.deepEqual(await device.nextJson(), { tag: 'alerts', from: '', server: true, type: 'TEXT', payload: 'five' });
  });

  it('a unicast names its sender; a retained value the server set replays with "server": true', async () => {
    const { device, cid } = await devices.json(server.wsPort!, 'idle2');
    const sender = await pool.ready('ws', { memory: server });
    sender.send(text(`${cid}@cmd`, 'LED=1'));
    assert.deepEqual(await device.nextJson(), { tag: '@cmd', from: sender.cid, type: 'TEXT', payload: 'LED=1' });
    server.sendSignal('notice$last', PAYLOAD.TEXT, Buffer.from('maintenance\0'));
    const { device: late } = await devices.json(server.wsPort!, 'notice$last');
    assert.deepEqual(await late.nextJson(), { tag: 'notice$last', from: '', server: true, type: 'TEXT', payload: 'maintenance' });
  });
});
