// What the plain WebSocket endpoint costs the broker (issue 16 item 5): a real `io-server` process, plain devices
// over the `ws` package, an anonymous CongSocket publisher, and an unrelated CongSocket client that sends itself
// unicasts all along, from a process of its own (its longest round trip is the stall the others saw). Prints, per
// scenario, the server's CPU,
// its peak RSS growth, that longest round trip and what the devices received. It asserts nothing.
//
// Usage: node dist/bench/plain-load.js [--root <checkout>] [--scenarios out,paused,in-big,in-small]
//   --root runs another checkout's bin/io-server.js (e.g. the commit before a change) for a before/after.
//
// Scenarios (the figures of issue 16 item 5):
//   out       one 8 MiB TEXT of control bytes published to 10 reading JSON devices (then to 10 iosignal clients)
//   paused    one 16 MiB TEXT of control bytes to 10 JSON devices that read nothing (then to 10 iosignal clients)
//   in-big    3 × 20 MiB binary frames from a raw device on a 16-channel path (and the same from an iosignal client)
//   in-small  100 000 small text frames from a raw device on a 16-channel path (and from an iosignal client)
import { fork } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { MSG, PAYLOAD } from '../src/protocol/codes.js';
import { encodeSignal, encodeTagMessage } from '../src/protocol/messages.js';
import { connectReady, type Conn } from './lib/conn.js';
import { procCpuUs, procRssBytes, sleep, startIoServerCli, type CliServer } from './lib/procs.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : def;
}

const root = resolve(arg('--root', join(HERE, '..', '..')));
const scenarios = arg('--scenarios', 'out,paused,in-big,in-small').split(',');

type Server = CliServer;

function startServer(big: boolean): Promise<Server> {
  // The watcher of the incoming scenarios takes 20 MiB messages back to back: not a slow consumer here.
  return startIoServerCli(root, big ? ['--max-backpressure', String(256 * MiB)] : []);
}

/** Server CPU, peak RSS growth (sampled every 5 ms) and the ping-pong's longest round trip while `work` runs. */
async function measure(server: Server, work: () => Promise<string>): Promise<string> {
  const pid = server.child.pid!;
  const pp = await pingPong(server.cong);
  await sleep(300);
  const rss0 = procRssBytes(pid);
  let peak = rss0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, procRssBytes(pid));
  }, 5);
  const cpu0 = procCpuUs(pid);
  pp.reset();
  let note: string;
  try {
    note = await work();
  } finally {
    clearInterval(sampler);
  }
  const cpu = (procCpuUs(pid) - cpu0) / 1000;
  const stall = await pp.stop();
  return `cpu ${cpu.toFixed(0)} ms, peak RSS +${((peak - rss0) / 1e6).toFixed(0)} MB, ping-pong max ${stall.toFixed(0)} ms; ${note}`;
}

/**
 * A CongSocket client sending itself unicasts back to back, in a child process (the generators here keep this
 * process busy); `stop` resolves with the longest round trip since `reset`.
 */
async function pingPong(port: number): Promise<{ reset(): void; stop(): Promise<number> }> {
  const child = fork(fileURLToPath(import.meta.url), ['--ping-pong', String(port)]);
  await new Promise<void>((ready) => child.once('message', () => ready()));
  return {
    reset: () => child.send('reset'),
    stop: () =>
      new Promise((done) => {
        child.once('message', (max) => {
          child.kill();
          done(Number(max));
        });
        child.send('stop');
      }),
  };
}

/** The child's side of pingPong. */
async function runPingPong(port: number): Promise<void> {
  const { conn, cid } = await connectReady({ transport: 'cong', port, cid: true });
  const msg = encodeSignal(`${cid}@pp`, PAYLOAD.TEXT, Buffer.from('p\0'));
  let sentAt = 0;
  let max = 0;
  let running = true;
  conn.onmsg = (m) => {
    if (m[0] !== MSG.SIGNAL) return;
    max = Math.max(max, performance.now() - sentAt);
    if (!running) return;
    // A round trip every millisecond or so: enough to see a stall, too few to load the server.
    setTimeout(() => {
      sentAt = performance.now();
      conn.send(msg);
    }, 1);
  };
  sentAt = performance.now();
  conn.send(msg);
  process.on('message', (command) => {
    if (command === 'reset') max = 0;
    if (command !== 'stop') return;
    running = false;
    // A round trip still outstanding counts as far as it got.
    const pending = performance.now() - sentAt;
    conn.close();
    process.send!(Math.max(max, pending > 5 ? pending : 0));
  });
  process.send!('ready');
}

async function device(port: number, path: string): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { maxPayload: 256 * MiB });
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok());
    ws.once('error', fail);
  });
  // The JSON devices say READY first; raw ones get nothing, so give the subscriptions a moment.
  await sleep(100);
  return ws;
}

async function subscriber(port: number, tag: string): Promise<Conn> {
  const { conn } = await connectReady({ transport: 'cong', port, cid: true });
  conn.send(encodeTagMessage(MSG.SUBSCRIBE, tag));
  await sleep(100);
  return conn;
}

function controlText(bytes: number): Buffer {
  const payload = Buffer.alloc(bytes + 1, 1);
  payload[bytes] = 0;
  return payload;
}

/** An iosignal WebSocket subscriber of `tag` (anonymous: it needs no CID to subscribe). */
async function iosignalReceiver(port: number, tag: string): Promise<WebSocket> {
  const ws = await device(port, '/');
  ws.send(encodeTagMessage(MSG.SUBSCRIBE, tag));
  await sleep(100);
  return ws;
}

/** One publish of `bytes` control bytes to 10 JSON devices (or, for comparison, 10 iosignal WebSocket clients). */
async function outgoing(server: Server, bytes: number, paused: boolean, receivers: 'json' | 'iosignal'): Promise<string> {
  const devices = await Promise.all(
    Array.from({ length: 10 }, () => (receivers === 'json' ? device(server.ws, '/plain/big?format=json') : iosignalReceiver(server.ws, 'big'))),
  );
  let frames = 0;
  let largest = 0;
  for (const ws of devices) {
    if (paused) (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    ws.on('message', (data: Buffer) => {
      if (data.length < 100) return; // READY
      frames++;
      largest = Math.max(largest, data.length);
    });
  }
  const { conn } = await connectReady({ transport: 'cong', port: server.cong, cid: true });
  const note = await measure(server, async () => {
    conn.send(encodeSignal('big', PAYLOAD.TEXT, controlText(bytes)));
    if (paused) await sleep(4000);
    else {
      const until = Date.now() + 60_000;
      while (frames < devices.length && Date.now() < until) await sleep(5);
    }
    const who = receivers === 'json' ? 'JSON devices' : 'iosignal clients';
    return paused ? `paused ${who}` : `${frames} frames of ${(largest / MiB).toFixed(1)} MiB to ${who}`;
  });
  conn.close();
  for (const ws of devices) ws.terminate();
  return note;
}

const CHANNELS = Array.from({ length: 16 }, (_, i) => `c${i}`);

/**
 * `count` frames of `payload` from a raw device on 16 channels, then the same as SIGNALs of an iosignal client
 * on one channel, and (`sixteen`) on the 16 channels, one SIGNAL each: the work the device's frames stand for.
 */
async function incoming(server: Server, count: number, payload: Buffer, binary: boolean, sixteen: boolean): Promise<string> {
  const watcher = await subscriber(server.cong, 'c0');
  let got = 0;
  let marker = false;
  watcher.onmsg = (m) => {
    if (m[0] !== MSG.SIGNAL) return;
    got++;
    if (m.includes(Buffer.from('END'))) marker = true;
  };
  const waitMarker = async (): Promise<void> => {
    const until = Date.now() + 120_000;
    while (!marker && Date.now() < until) await sleep(5);
  };
  const dev = await device(server.ws, `/plain/${CHANNELS.join(',')}`);
  const plain = await measure(server, async () => {
    for (let i = 0; i < count; i++) dev.send(payload, { binary });
    dev.send('END');
    await waitMarker();
    return `plain device: ${got - 1} of ${count} reached c0`;
  });
  dev.terminate();
  got = 0;
  marker = false;
  const { conn } = await connectReady({ transport: 'cong', port: server.cong, cid: true });
  const msg = encodeSignal('c0', binary ? PAYLOAD.BINARY : PAYLOAD.TEXT, payload);
  const iosignal = await measure(server, async () => {
    for (let i = 0; i < count; i += 1000) conn.sendMany(Array.from({ length: Math.min(1000, count - i) }, () => msg));
    conn.send(encodeSignal('c0', PAYLOAD.TEXT, Buffer.from('END\0')));
    await waitMarker();
    return `iosignal client, one channel: ${got - 1} of ${count}`;
  });
  let sixteenChannels = '';
  if (sixteen) {
    got = 0;
    marker = false;
    const msgs = CHANNELS.map((tag) => encodeSignal(tag, binary ? PAYLOAD.BINARY : PAYLOAD.TEXT, payload));
    sixteenChannels = await measure(server, async () => {
      for (let i = 0; i < count; i += 100) conn.sendMany(Array.from({ length: Math.min(100, count - i) }, () => msgs).flat());
      conn.send(encodeSignal('c0', PAYLOAD.TEXT, Buffer.from('END\0')));
      await waitMarker();
      return `iosignal client, 16 channels: ${got - 1} of ${count} reached c0`;
    });
    sixteenChannels = `\n    ${sixteenChannels}`;
  }
  conn.close();
  watcher.close();
  return `${plain}\n    ${iosignal}${sixteenChannels}`;
}

const RUNS: Record<string, (s: Server) => Promise<string>> = {
  out: async (s) => `${await outgoing(s, 8 * MiB, false, 'json')}\n    ${await outgoing(s, 8 * MiB, false, 'iosignal')}`,
  paused: async (s) => `${await outgoing(s, 16 * MiB, true, 'json')}\n    ${await outgoing(s, 16 * MiB, true, 'iosignal')}`,
  'in-big': (s) => incoming(s, 3, Buffer.alloc(20 * MiB, 7), true, false),
  'in-small': (s) => incoming(s, 100_000, Buffer.from('t=21.5'), false, true),
};

async function main(): Promise<void> {
  console.log(`io-server from ${root}`);
  for (const name of scenarios) {
    const run = RUNS[name];
    if (!run) throw new Error(`unknown scenario ${name}`);
    // A fresh server per scenario: one's garbage does not weigh on the next.
    const server = await startServer(name === 'in-big');
    try {
      console.log(`${name.padEnd(9)} ${await run(server)}`);
    } finally {
      server.child.kill('SIGKILL');
    }
  }
  process.exit(0);
}

if (process.argv[2] === '--ping-pong') await runPingPong(Number(process.argv[3]));
else await main();
