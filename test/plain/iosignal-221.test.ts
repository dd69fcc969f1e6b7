// The published iosignal 2.2.1 clients (IO over ws, IOCongSocket over cong), unmodified, talking to a plain
// WebSocket device played by Python's websockets: unicast to the device's CID, channel signals both ways.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServer, type IosigServer } from '../../src/index.js';
import { waitFor } from '../kit/wait.js';
import { PythonDevice } from './python-device.js';
import { needs } from '../kit/tools.js';
import { loadIosignal221, type Io221Client as Io221, type Iosignal221 as IosignalModule } from '../kit/iosignal-221.js';


describe('iosignal 2.2.1 clients and a plain Python device', needs('python3-websockets'), () => {
  let lib: IosignalModule;
  let server: IosigServer;
  const clients: Io221[] = [];
  let device: PythonDevice;
  const quietLog = console.log;

  before(async () => {
    lib = await loadIosignal221();
    assert.equal(lib.version, '2.2.1');
    server = await createServer({ port: 0, congPort: 0, host: '127.0.0.1', log: () => {} });
    console.log = () => undefined; // the 2.2.1 client prints its quota and the like
  });
  after(async () => {
    console.log = quietLog;
    for (const c of clients) c.stop();
    await device?.stop();
    await server.close();
  });

  function make(kind: 'ws' | 'cong'): { client: Io221; ready: Promise<void>; got: unknown[][] } {
    const client = kind === 'ws' ? new lib.IO() : new lib.IOCongSocket();
    clients.push(client);
    client.on('error', () => undefined);
    const got: unknown[][] = [];
    const ready = new Promise<void>((resolve) => client.on('ready', () => resolve()));
    client.on('lab', (...args) => got.push(args));
    client.open(kind === 'ws' ? `ws://127.0.0.1:${server.wsPort}` : `cong://127.0.0.1:${server.congPort}`);
    return { client, ready, got };
  }

  it('unicasts to the device by CID and exchanges channel signals on both transports', async () => {
    const ws = make('ws');
    const cong = make('cong');
    await Promise.all([ws.ready, cong.ready]);
    ws.client.subscribe('lab');
    cong.client.subscribe('lab');
    await waitFor(() => server.connectionList().filter((c) => c.channels.includes('CH:lab')).length === 2, 3000, 'both subscribed');

    device = new PythonDevice(`ws://127.0.0.1:${server.wsPort}/plain/lab`);
    await device.opened();
    await waitFor(() => server.connectionList().some((c) => c.kind === 'plain' && c.channels.includes('CH:lab')), 3000, 'the device');
    const cid = server.connectionList().find((c) => c.kind === 'plain')!.cid;

    ws.client.signal(`${cid}@led`, 'LED=1');
    assert.deepEqual(await device.next(), { text: 'LED=1' });
    cong.client.signal(`${cid}@led`, 'LED=0');
    assert.deepEqual(await device.next(), { text: 'LED=0' });
    cong.client.signal('lab', { LED: 1 });
    assert.deepEqual(await device.next(), { text: '{"LED":1}' });

    device.sendText('3, 17, 22.4');
    const has = (got: unknown[][]): boolean => got.some((args) => args[0] === '3, 17, 22.4' && args[1] === 'lab');
    await waitFor(() => has(ws.got) && has(cong.got), 3000, 'the reading at both clients');
  });
});
