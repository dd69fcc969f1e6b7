// The plain WebSocket endpoint (issue 11 item 1) with real third-party clients: Python's websockets (Debian
// python3-websockets) as the device, an iosignal client (the published iosignal 2.2.1 package and iosig's own)
// on the other side: text and binary both ways, JSON envelopes, unicast, limits, mutual TLS identity.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { createServer, type IosigServer } from '../../src/index.js';
import { IoClient, type SignalMessage } from '../../src/client/index.js';
import { frameForDevice } from '../../src/plain/to-device.js';
import { FrameSignals, readDeviceFrame, targetTags } from '../../src/plain/from-device.js';
import { parsePlainRequest } from '../../src/plain/request.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import { PAYLOAD } from '../../src/protocol/codes.js';
import { buildSignal } from '../../src/protocol/payload.js';
import { nextEvent } from '../client/support.js';
import { waitFor } from '../kit/wait.js';
import { makeDevicePki, type DevicePki } from '../kit/device-pki.js';
import { PythonDevice } from './python-device.js';
import { inside } from '../kit/inside.js';
import { needs } from '../kit/tools.js';

const textFrame = (text: string) => ({ data: Buffer.from(text), binary: false });

/** The SIGNALs a device frame asks for, as separate buffers (FrameSignals reuses one). */
function signalsOf(data: string | Buffer, binary: boolean, format: 'raw' | 'json', channels: string[]): Buffer[] | string {
  const input = readDeviceFrame(Buffer.from(data), binary, format, targetTags(channels), 1024 * 1024);
  if (!input.ok) return input.reason;
  const signals = new FrameSignals(input);
  return Array.from({ length: signals.count }, (_, i) => Buffer.from(signals.message(i)));
}

describe('plain translation', () => {
  it('turns signals into payload frames (raw) or envelopes (json)', () => {
    assert.deepEqual(frameForDevice(buildSignal('lab', 'LED=1'), 'raw'), textFrame('LED=1'));
    assert.deepEqual(frameForDevice(buildSignal('lab', Buffer.from([1, 2])), 'raw'), { data: Buffer.from([1, 2]), binary: true });
    assert.deepEqual(frameForDevice(buildSignal('lab', { led: 1 }), 'raw'), textFrame('{"led":1}'));
    assert.deepEqual(frameForDevice(buildSignal('lab', 1, 'a'), 'raw'), textFrame('[1,"a"]'));
    assert.deepEqual(frameForDevice(buildSignal('lab', 'x', Buffer.from([255])), 'raw'), textFrame('["x","/w=="]'));
    assert.deepEqual(JSON.parse(String(frameForDevice(buildSignal('@cmd', 'go'), 'json', 'C1')!.data)), {
      tag: '@cmd',
      from: 'C1',
      type: 'TEXT',
      payload: 'go',
    });
    assert.equal(frameForDevice(Buffer.from([0xc2, 0x41]), 'raw'), null, 'CID_RES is not for the device');
  });

  it('turns device frames into signals on every channel, or where a JSON envelope says', () => {
    assert.deepEqual(signalsOf('t=21', false, 'raw', ['a', 'b']), [
      encodeSignal('a', PAYLOAD.TEXT, Buffer.from('t=21\0')),
      encodeSignal('b', PAYLOAD.TEXT, Buffer.from('t=21\0')),
    ]);
    assert.deepEqual(signalsOf('{"to":"C9@cmd","payload":{"led":1}}', false, 'json', ['a']), [encodeSignal('C9@cmd', PAYLOAD.OBJECT, Buffer.from('{"led":1}'))]);
    assert.deepEqual(signalsOf('{"type":"BINARY","payload":"AQI="}', false, 'json', ['a']), [encodeSignal('a', PAYLOAD.BINARY, Buffer.from([1, 2]))]);
    assert.equal(typeof signalsOf('nope', false, 'json', ['a']), 'string');
    assert.equal(typeof signalsOf('{"to":""}', false, 'json', ['a']), 'string');
  });

  it('reads channels and format from the path and query', () => {
    assert.deepEqual(parsePlainRequest('/plain/lab,%23home', 'format=json', '/plain/'), { ok: true, channels: ['lab', '#home'], format: 'json' });
    assert.deepEqual(parsePlainRequest('/plain/lab', '', '/plain/'), { ok: true, channels: ['lab'], format: 'raw' });
    assert.equal(parsePlainRequest('/plain/', '', '/plain/').ok, false);
    assert.equal(parsePlainRequest('/plain/$x', '', '/plain/').ok, false);
    assert.equal(parsePlainRequest('/plain/a', 'format=xml', '/plain/').ok, false);
  });
});

describe('plain endpoint with a Python websockets device', needs('python3-websockets'), () => {
  let server: IosigServer;
  const devices: PythonDevice[] = [];
  const clients: IoClient[] = [];
  before(async () => {
    server = await createServer({ port: 0, host: '127.0.0.1', log: () => {} });
  });
  afterEach(async () => {
    for (const device of devices.splice(0)) await device.stop();
    for (const client of clients.splice(0)) client.close();
  });
  after(() => server.close());

  async function iosignalClient(channels: string): Promise<IoClient> {
    const client = new IoClient(`ws://127.0.0.1:${server.wsPort}`, { reconnect: false });
    clients.push(client);
    await client.whenReady(5000);
    client.subscribe(channels);
    await client.echo('sync');
    return client;
  }

  async function device(path: string): Promise<PythonDevice> {
    const dev = new PythonDevice(`ws://127.0.0.1:${server.wsPort}${path}`);
    devices.push(dev);
    await dev.opened();
    return dev;
  }

  async function cidOfPlain(): Promise<string> {
    const find = () => server.connectionList().find((c) => c.kind === 'plain' && c.cid !== '' && c.channels.length > 0);
    await waitFor(() => find() !== undefined, 3000, 'a plain connection with a CID');
    return find()!.cid;
  }

  it('text and binary both ways, unicast to its CID, and no echo of its own frames', async () => {
    const app = await iosignalClient('lab');
    const dev = await device('/plain/lab');
    const cid = await cidOfPlain();
    const info = inside(server).connectionByCid(cid)!;
    assert.equal(info.kind, 'plain');
    assert.deepEqual(info.channels, ['CH:lab']);

    const text = nextEvent(app, 'message', 3000);
    dev.sendText('Heartbeat: 2026-11-28 18:00:00.123 - 42');
    const [got] = await text;
    assert.equal(got.tag, 'lab');
    assert.equal(got.payloadTypeName, 'TEXT');
    assert.deepEqual(got.values, ['Heartbeat: 2026-11-28 18:00:00.123 - 42']);

    const bin = nextEvent(app, 'message', 3000);
    dev.sendBinary(Buffer.from([0, 1, 254, 255]));
    const [gotBin] = await bin;
    assert.equal(gotBin.payloadTypeName, 'BINARY');
    assert.deepEqual(gotBin.payload, Buffer.from([0, 1, 254, 255]));

    app.signal('lab', 'Status: 1');
    assert.deepEqual(await dev.next(), { text: 'Status: 1' });
    app.signal('lab', Buffer.from([9, 8, 7]));
    assert.deepEqual(await dev.next(), { bin: '090807' });
    app.signal('lab', { LED: 1 });
    assert.deepEqual(await dev.next(), { text: '{"LED":1}' });
    app.signal(`${cid}@led`, '0');
    assert.deepEqual(await dev.next(), { text: '0' });
    // Its own frames were not sent back to it: the next event is what the app sends now.
    app.signal('lab', 'last');
    assert.deepEqual(await dev.next(), { text: 'last' });
  });

  it('?format=json: envelopes out with the sender, {"to","payload"} in', async () => {
    const app = await iosignalClient('lab');
    const dev = await device('/plain/lab?format=json');
    const ready = await dev.next();
    assert.ok('text' in ready);
    const { type, cid } = JSON.parse(ready.text) as { type: string; cid: string };
    assert.equal(type, 'READY');
    assert.equal(inside(server).connectionByCid(cid)?.kind, 'plain');

    app.signal('lab', 'hello');
    const env = await dev.next();
    assert.ok('text' in env);
    assert.deepEqual(JSON.parse(env.text), { tag: 'lab', from: app.cid, type: 'TEXT', payload: 'hello' });

    const toApp = nextEvent(app, 'message', 3000, (m: SignalMessage) => m.unicast);
    dev.sendText(JSON.stringify({ to: `${app.cid}@ack`, payload: 'ACK: 12:00:00.001 - 100' }));
    const [ack] = await toApp;
    assert.equal(ack.tag, '@ack');
    assert.deepEqual(ack.values, ['ACK: 12:00:00.001 - 100']);

    const onLab = nextEvent(app, 'message', 3000, (m: SignalMessage) => m.tag === 'lab');
    dev.sendText(JSON.stringify({ payload: { t: 21.5 } }));
    assert.deepEqual((await onLab)[0].values, [{ t: 21.5 }]);

    dev.sendText('not json');
    const error = await dev.next();
    assert.ok('text' in error);
    assert.equal(JSON.parse(error.text).type, 'ERROR');
  });

  it('refuses a bad path with HTTP 400, and iosignal clients still upgrade on every other path', async () => {
    const bad = new PythonDevice(`ws://127.0.0.1:${server.wsPort}/plain/`);
    devices.push(bad);
    const first = await bad.next(5000);
    assert.ok('error' in first && /400/.test(first.error), JSON.stringify(first));
    const other = new IoClient(`ws://127.0.0.1:${server.wsPort}/some/path`, { reconnect: false });
    clients.push(other);
    assert.match(await other.whenReady(5000), /^\?/);
  });

  it('obeys the same limits: a frame over the quota size is dropped, the rest flows', async () => {
    const limited = await createServer({ port: 0, host: '127.0.0.1', log: () => {}, useQuota: { signalSize: true }, defaultQuotaLevel: 1 });
    try {
      const app = new IoClient(`ws://127.0.0.1:${limited.wsPort}`, { reconnect: false });
      clients.push(app);
      await app.whenReady(5000);
      app.subscribe('lab');
      await app.echo('sync');
      const dev = new PythonDevice(`ws://127.0.0.1:${limited.wsPort}/plain/lab`);
      devices.push(dev);
      await dev.opened();
      const got: string[] = [];
      app.on('message', (m) => got.push(String(m.values[0])));
      dev.sendText('x'.repeat(400)); // level 1: signalSize 255
      dev.sendText('small');
      // 'small' went after the oversized text: once it is in, the other one was dropped.
      await waitFor(() => got.length > 0, 3000, 'the small message');
      assert.deepEqual(got, ['small']);
      assert.ok(limited.metrics().overSize >= 1);
    } finally {
      await limited.close();
    }
  });
});

describe('plain endpoint options and bearer identity', needs('python3-websockets'), () => {
  const devices: PythonDevice[] = [];
  after(async () => {
    for (const device of devices) await device.stop();
  });

  it('moves to another prefix, or is off, and a bearer header logs the device in', async () => {
    const server = await createServer({ port: 0, host: '127.0.0.1', plainPrefix: 'things', auth: { param: 'dev9.s3cret.DEV-9.2' }, log: () => {} });
    try {
      const dev = new PythonDevice(`ws://127.0.0.1:${server.wsPort}/things/lab`, { headers: ['Authorization: Bearer dev9.s3cret'] });
      devices.push(dev);
      await dev.opened();
      await waitFor(() => (inside(server).connectionByCid('DEV-9')?.channels.length ?? 0) > 0, 3000, 'DEV-9 subscribed');
      const info = inside(server).connectionByCid('DEV-9');
      assert.equal(info?.kind, 'plain');
      assert.equal(info?.level, 2);
      assert.deepEqual(info?.channels, ['CH:lab']);
      // /plain/ is now an ordinary iosignal path: its connection is not translated.
      const other = new PythonDevice(`ws://127.0.0.1:${server.wsPort}/plain/lab`);
      devices.push(other);
      await other.opened();
      const first = await other.next();
      assert.ok('bin' in first && first.bin.startsWith('b0'), 'an iosignal connection greets with SERVER_TIME_NONCE');
    } finally {
      await server.close();
    }
    const off = await createServer({ port: 0, host: '127.0.0.1', plainPrefix: null, log: () => {} });
    try {
      const dev = new PythonDevice(`ws://127.0.0.1:${off.wsPort}/plain/lab`);
      devices.push(dev);
      await dev.opened();
      const first = await dev.next();
      assert.ok('bin' in first && first.bin.startsWith('b0'));
      assert.equal(off.connectionList()[0]?.kind, 'iosignal');
    } finally {
      await off.close();
    }
  });

  it('closes a device whose bearer key is wrong: "login refused" to the device, the reason in the log', async () => {
    const lines: string[] = [];
    const server = await createServer({ port: 0, host: '127.0.0.1', auth: { param: 'dev9.s3cret.DEV-9.2' }, log: (line) => lines.push(line) });
    try {
      const dev = new PythonDevice(`ws://127.0.0.1:${server.wsPort}/plain/lab`, { headers: ['Authorization: Bearer dev9.nope'] });
      devices.push(dev);
      await dev.opened();
      const closed = await dev.next(5000);
      assert.ok('closed' in closed, JSON.stringify(closed));
      assert.equal(closed.reason, 'login refused');
      assert.ok(lines.some((line) => line.includes('login refused: bearer: wrong key for id "dev9"')), lines.join('\n'));
    } finally {
      await server.close();
    }
  });
});

describe('plain endpoint over wss:// with a client certificate (--tls-ca)', needs('python3-websockets'), () => {
  let pki: DevicePki;
  let server: IosigServer;
  const devices: PythonDevice[] = [];
  before(async () => {
    pki = makeDevicePki(['esp1']);
    server = await createServer({
      port: 0,
      host: '127.0.0.1',
      auth: { param: 'esp1.k.ESP-1.2' },
      tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca },
      log: () => {},
    });
  });
  after(async () => {
    for (const device of devices) await device.stop();
    await server.close();
    pki.remove();
  });

  it('logs the device in as the stored device its certificate names', async () => {
    const dev = new PythonDevice(`wss://127.0.0.1:${server.wsPort}/plain/lab`, { ca: pki.ca, ...pki.device('esp1') });
    devices.push(dev);
    await dev.opened();
    await waitFor(() => inside(server).connectionByCid('ESP-1') !== undefined, 3000, 'ESP-1 online');
    const info = inside(server).connectionByCid('ESP-1');
    assert.ok(info, 'the plain device has its stored CID');
    assert.equal(info.kind, 'plain');
    assert.equal(info.authorized, true);
    assert.equal(info.level, 2);
    assert.equal(info.did, 'esp1');
  });

  it('refuses a device without a valid certificate during the TLS handshake', async () => {
    const none = new PythonDevice(`wss://127.0.0.1:${server.wsPort}/plain/lab`, { ca: pki.ca });
    devices.push(none);
    const first = await none.next(5000);
    assert.ok('error' in first || 'closed' in first, JSON.stringify(first));
    const rogue = new PythonDevice(`wss://127.0.0.1:${server.wsPort}/plain/lab`, { ca: pki.ca, ...pki.rogue });
    devices.push(rogue);
    const second = await rogue.next(5000);
    assert.ok('error' in second || 'closed' in second, JSON.stringify(second));
    assert.equal(server.connectionList().filter((c) => c.kind === 'plain' && c.cid !== 'ESP-1').length, 0);
  });
});

