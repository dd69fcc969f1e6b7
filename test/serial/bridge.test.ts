// io-serial against pseudo-terminal pairs (socat) standing in for boards at 115200 baud: lines both ways,
// bursts with nothing lost, the server and the port going away and coming back, two ports in one bridge.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { createServer, type IosigServer, type SignalInfo } from '../../src/index.js';
import { IoClient, type SignalMessage } from '../../src/client/index.js';
import { SerialBridge } from '../../src/serial/bridge.js';
import { DEFAULTS, parsePortSpec, unescapeDelimiter, type BridgeSettings } from '../../src/serial/settings.js';
import { LineSplitter } from '../../src/serial/line-splitter.js';
import { nextEvent } from '../client/support.js';
import { TimeoutError, sleep } from '../kit/wait.js';
import { Board, PtyPair } from './pty-pair.js';
import { inside } from '../kit/inside.js';
import { needs } from '../kit/tools.js';
import { ROOT } from '../kit/server.js';
import { stopChild } from '../kit/child-output.js';

function settings(server: string, extra: Partial<BridgeSettings> = {}): BridgeSettings {
  return {
    server,
    baudRate: 115_200,
    mode: 'line',
    delimiter: Buffer.from('\n'),
    maxLine: DEFAULTS.maxLine,
    channel: DEFAULTS.channel,
    commandTopic: DEFAULTS.commandTopic,
    bufferBytes: DEFAULTS.bufferBytes,
    writeLimit: DEFAULTS.writeLimit,
    portRetryMs: 100,
    client: { reconnectDelayMs: 50, reconnectMaxDelayMs: 200 },
    ...extra,
  };
}

/** Texts of the signals a client receives on `tag`, in order. */
class Collector {
  readonly texts: string[] = [];
  constructor(client: IoClient, tag: string) {
    client.on('message', (m: SignalMessage) => {
      if (m.tag === tag) this.texts.push(Buffer.isBuffer(m.values[0]) ? `bin:${m.values[0].toString('hex')}` : String(m.values[0]));
    });
  }
  async waitCount(n: number, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.texts.length < n) {
      if (Date.now() > deadline) throw new TimeoutError(`${n} signals (have ${this.texts.length})`, ms);
      await sleep(10);
    }
  }
}

async function watcher(url: string, tag: string): Promise<{ client: IoClient; got: Collector }> {
  const client = new IoClient(url, { reconnect: false });
  const got = new Collector(client, tag);
  await nextEvent(client, 'ready', 5000);
  client.subscribe(tag);
  await client.echo('sync'); // the subscription is in place once the echo is back
  return { client, got };
}

/** A new server on the port the old one had (the listening socket may take a moment to go). */
async function listenAgain(port: number): Promise<IosigServer> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      return await createServer({ congPort: port, host: '127.0.0.1', log: () => {} });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

describe('io-serial pieces', () => {
  it('splits lines on any delimiter, cuts over-long lines into pieces and keeps every byte', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter(Buffer.from('\r\n'), 4, (line) => lines.push(line.toString()));
    splitter.push(Buffer.from('ab\r'));
    splitter.push(Buffer.from('\ncdefghij\r\n\r\nxy'));
    splitter.flush();
    assert.deepEqual(lines, ['ab', 'cdef', 'ghij', '', 'xy']);
  });

  it('reads port specs and delimiter escapes', () => {
    assert.deepEqual(parsePortSpec('/dev/ttyUSB0=node-1'), { path: '/dev/ttyUSB0', name: 'node-1' });
    assert.deepEqual(parsePortSpec('/dev/ttyACM1=n2,dev2.secret'), { path: '/dev/ttyACM1', name: 'n2', auth: 'dev2.secret' });
    assert.deepEqual(parsePortSpec('/dev/ttyS3'), { path: '/dev/ttyS3', name: 'ttyS3' });
    assert.throws(() => parsePortSpec('/dev/ttyS3,nodot'), /ID\.KEY/);
    assert.deepEqual([...unescapeDelimiter('\\r\\n')], [13, 10]);
    assert.deepEqual([...unescapeDelimiter('\\x03;')], [3, 59]);
    assert.throws(() => unescapeDelimiter(''), /empty/);
  });
});

describe('io-serial with a socat pty pair as the board', needs('socat'), () => {
  let server: IosigServer | null = null;
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await server?.close();
    server = null;
  });

  async function setup(
    extra: Partial<BridgeSettings> = {},
    transport: 'ws' | 'cong' = 'ws',
  ): Promise<{ pair: PtyPair; board: Board; bridge: SerialBridge; cid: string; url: string }> {
    server = await createServer({ port: 0, congPort: 0, host: '127.0.0.1', log: () => {} });
    const url = `ws://127.0.0.1:${server.wsPort}`;
    const bridgeUrl = transport === 'ws' ? url : `cong://127.0.0.1:${server.congPort}`;
    const pair = new PtyPair();
    await pair.up();
    cleanups.push(() => pair.dispose());
    const board = await Board.open(pair.boardPath);
    cleanups.push(() => board.close());
    const bridge = new SerialBridge([{ path: pair.tty, name: 'node-1' }], settings(bridgeUrl, extra));
    cleanups.push(() => bridge.stop());
    const ready = new Promise<string>((resolve) => bridge.ports[0]!.once('ready', resolve));
    const open = new Promise<void>((resolve) => bridge.ports[0]!.once('open', resolve));
    bridge.start();
    const cid = await ready;
    await open;
    return { pair, board, bridge, cid, url };
  }

  it('publishes UART lines on <cid>@serial and writes commands to the UART', async () => {
    const { board, cid, url } = await setup({ broadcast: 'all-nodes' });
    const { client, got } = await watcher(url, `${cid}@serial`);
    cleanups.push(() => client.close());
    await board.write('IoT-LAB Simple Demo program\r\nLuminosity measure: 4.8828125E-1 lux\n\n');
    await got.waitCount(3, 3000);
    assert.deepEqual(got.texts, ['IoT-LAB Simple Demo program', 'Luminosity measure: 4.8828125E-1 lux', '']);
    // A unicast to the command topic, and a signal on the broadcast channel, reach the UART with the line end.
    client.signal(`${cid}@cmd`, 'l');
    await board.waitFor('l\n');
    client.signal('all-nodes', 'h');
    await board.waitFor('h\n');
    client.signal(`${cid}@cmd`, { led: 1 });
    await board.waitFor('{"led":1}\n');
    // The bridge shows itself as a serial device.
    assert.equal(inside(server!).connectionByCid(cid)?.nick, 'serial:node-1');
  });

  it('in raw mode publishes every byte as BINARY and writes commands as they are', async () => {
    const { board, cid, url } = await setup({ mode: 'raw' });
    const { client, got } = await watcher(url, `${cid}@serial`);
    cleanups.push(() => client.close());
    const bytes = Buffer.from(Array.from({ length: 600 }, (_, i) => i & 0xff));
    await board.write(bytes);
    const deadline = Date.now() + 3000;
    const joined = (): string => got.texts.map((t) => t.slice(4)).join('');
    while (joined().length < bytes.length * 2 && Date.now() < deadline) await sleep(10);
    assert.ok(got.texts.every((t) => t.startsWith('bin:')));
    assert.equal(joined(), bytes.toString('hex'));
    client.signal(`${cid}@cmd`, Buffer.from([0x02, 0x00, 0x03]));
    client.signal(`${cid}@cmd`, 'AT');
    await board.waitFor('AT');
    assert.deepEqual([...board.received], [0x02, 0x00, 0x03, 0x41, 0x54]);
  });

  it('sends line bytes that are not UTF-8 as BINARY, unchanged', async () => {
    const { board, cid, url } = await setup();
    const { client, got } = await watcher(url, `${cid}@serial`);
    cleanups.push(() => client.close());
    await board.write(Buffer.from([0xff, 0x00, 0xfe, 0x0a]));
    await got.waitCount(1, 3000);
    assert.deepEqual(got.texts, ['bin:ff00fe']);
  });

  it('loses nothing of a 115200-baud-sized burst (10 s of output at once)', async () => {
    const { board, cid, url } = await setup();
    const { client, got } = await watcher(url, `${cid}@serial`);
    cleanups.push(() => client.close());
    // 115200 baud ≈ 11 520 bytes/s; 1600 lines of 72 bytes ≈ 115 KB ≈ 10 s of a busy UART.
    const lines = Array.from({ length: 1600 }, (_, i) => `reading ${String(i).padStart(5, '0')} ${'x'.repeat(56)}`);
    await board.write(`${lines.join('\n')}\n`);
    await got.waitCount(lines.length, 20_000);
    assert.deepEqual(got.texts, lines);
  });

  it('keeps the output while the server is away and delivers it in order after reconnecting', async () => {
    // Over CongSocket: a uWS port closed with connections on it stays taken (TIME_WAIT) for a while.
    const { board, bridge } = await setup({}, 'cong');
    const port = server!.congPort!;
    const seenBefore: string[] = [];
    server!.events.on('signal', (s: SignalInfo) => seenBefore.push(s.payload.toString('utf8', 0, s.size)));
    await board.write('before\n');
    const deadline = Date.now() + 3000;
    while (!seenBefore.some((p) => p.startsWith('before')) && Date.now() < deadline) await sleep(10);
    await server!.close();
    server = null;
    const lines = Array.from({ length: 300 }, (_, i) => `offline ${i}`);
    await board.write(`${lines.join('\n')}\n`);
    // Wait until the bridge has read all of it from the port (it sits in the outbox).
    const queuedBy = Date.now() + 5000;
    while (bridge.stats()[0]!.queued < lines.length && Date.now() < queuedBy) await sleep(10);
    assert.equal(bridge.stats()[0]!.queued, lines.length);
    // The same address comes back; the tap is in place before the bridge can reach it.
    server = await listenAgain(port);
    const seen: string[] = [];
    server.events.on('signal', (s: SignalInfo) => seen.push(s.payload.subarray(0, s.payload.length - 1).toString()));
    const again = Date.now() + 10_000;
    while (seen.length < lines.length && Date.now() < again) await sleep(20);
    assert.deepEqual(seen, lines);
    await board.write('after\n');
    const last = Date.now() + 3000;
    while (seen.length < lines.length + 1 && Date.now() < last) await sleep(10);
    assert.equal(seen.at(-1), 'after');
    assert.equal(bridge.stats()[0]!.dropped, 0);
  });

  it('reopens the port when the cable comes back', async () => {
    const { pair, board, bridge, cid, url } = await setup();
    const { client, got } = await watcher(url, `${cid}@serial`);
    cleanups.push(() => client.close());
    await board.write('one\n');
    await got.waitCount(1, 3000);
    await board.close();
    await pair.down();
    const reopened = new Promise<void>((resolve) => bridge.ports[0]!.once('open', resolve));
    await sleep(300); // a few failed reopen attempts
    await pair.up();
    await reopened;
    const board2 = await Board.open(pair.boardPath);
    cleanups.push(() => board2.close());
    await board2.write('two\n');
    await got.waitCount(2, 3000);
    assert.deepEqual(got.texts, ['one', 'two']);
    client.signal(`${cid}@cmd`, 'back');
    await board2.waitFor('back\n');
  });
});

describe('the io-serial command', needs('socat'), () => {
  const pairs: PtyPair[] = [];
  let server: IosigServer | null = null;
  after(async () => {
    for (const pair of pairs) await pair.dispose();
    await server?.close();
  });

  it('bridges two ports in one process, each as its own device', async () => {
    server = await createServer({ port: 0, congPort: 0, host: '127.0.0.1', log: () => {} });
    const a = new PtyPair();
    const b = new PtyPair();
    pairs.push(a, b);
    await a.up();
    await b.up();
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'bin', 'io-serial.js'),
        '-c', `cong://127.0.0.1:${server.congPort}`,
        '--port', `${a.tty}=node-a`,
        '--port', `${b.tty}=node-b`,
        '--channel', 'lab/{name}',
        '--broadcast', 'lab/all',
        '--retry', '100',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const deadline = Date.now() + 8000;
      const nicks = (): string[] => server!.connectionList().map((c) => c.nick);
      while (!(nicks().includes('serial:node-a') && nicks().includes('serial:node-b') && (output.match(/port open/g) ?? []).length >= 2)) {
        if (Date.now() > deadline) throw new TimeoutError(`both ports ready (output: ${output})`, 8000);
        await sleep(20);
      }
      const url = `ws://127.0.0.1:${server.wsPort}`;
      const watch = new IoClient(url, { reconnect: false });
      const gotA = new Collector(watch, 'lab/node-a');
      const gotB = new Collector(watch, 'lab/node-b');
      await nextEvent(watch, 'ready', 5000);
      watch.subscribe('lab/node-a,lab/node-b');
      await watch.echo('sync');
      const boardA = await Board.open(a.boardPath);
      const boardB = await Board.open(b.boardPath);
      try {
        await boardA.write('from a\n');
        await boardB.write('from b\n');
        await gotA.waitCount(1, 3000);
        await gotB.waitCount(1, 3000);
        assert.deepEqual(gotA.texts, ['from a']);
        assert.deepEqual(gotB.texts, ['from b']);
        // Commands: to one port by its CID, to both on the broadcast channel.
        const cidB = server.connectionList().find((c) => c.nick === 'serial:node-b')!.cid;
        watch.signal(`${cidB}@cmd`, 's');
        await boardB.waitFor('s\n');
        watch.signal('lab/all', 'e');
        await boardA.waitFor('e\n');
        await boardB.waitFor('e\n');
        assert.equal(boardA.received.toString(), 'e\n');
      } finally {
        await boardA.close();
        await boardB.close();
        watch.close();
      }
    } finally {
      await stopChild(child);
    }
  });
});
