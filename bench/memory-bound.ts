// Memory-bound scenario (issue 9 item 4): many subscribers stop reading while a publisher keeps sending; the
// broker's peak RSS growth must stay within receivers × (limit + one message) + a fixed margin, on both transports.
//
// Usage: npm run bench:memory [-- --receivers 1000 --limit 262144 --message 65536 --publishes 120
//                              --transports ws,cong,mixed --root <repo>]
// `--root` runs another checkout's bin/io-server.js (e.g. an older commit, to show the figure before a fix).
// The server is the real io-server CLI (`--slow-consumer drop`, so paused receivers stay connected and keep
// their buffers, the worst case for memory); its RSS is read from /proc/<pid>/status every 20 ms.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { MSG, PAYLOAD } from '../src/protocol/codes.js';
import { encodeFrame } from '../src/protocol/congsocket.js';
import { encodeSignal, encodeTagMessage } from '../src/protocol/messages.js';
import { startIoServerCli, type CliServer } from './lib/procs.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;
/** Fixed margin of the bound: code, heap growth of a busy broker, the publisher's own buffers. */
const MARGIN = 64 * MiB;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : def;
}

const receivers = Number(arg('--receivers', '1000'));
const limit = Number(arg('--limit', String(256 * 1024)));
const messageBytes = Number(arg('--message', String(64 * 1024)));
const publishes = Number(arg('--publishes', '120'));
const transports = arg('--transports', 'ws,cong,mixed').split(',');
const root = resolve(arg('--root', join(HERE, '..', '..')));

type Server = CliServer;

function rss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+)/.exec(status);
  return kb ? Number(kb[1]) * 1024 : 0;
}

function startServer(): Promise<Server> {
  // The hard cap at the limit: the bound is about what a receiver may hold, not how long it may stay behind.
  return startIoServerCli(root, ['--max-backpressure', String(limit), '--max-backlog', String(limit), '--slow-consumer', 'drop']);
}

interface Receiver {
  pause(): void;
  close(): void;
}

/** Connects, subscribes to `tag`, waits for the SUBSCRIBE to be handled (an ECHO round trip), then stops reading. */
function wsReceiver(port: number, tag: string): Promise<Receiver> {
  return new Promise((done, fail) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    const marker = Buffer.from([MSG.ECHO, 0x6d, 0x62]);
    ws.on('error', fail);
    ws.on('open', () => {
      ws.send(encodeTagMessage(MSG.SUBSCRIBE, tag));
      ws.send(marker);
    });
    ws.on('message', (data: Buffer) => {
      if (data.equals(marker)) done({ pause: () => ws.pause(), close: () => ws.terminate() });
    });
  });
}

function congReceiver(port: number, tag: string): Promise<Receiver> {
  return new Promise((done, fail) => {
    const sock = net.createConnection({ host: '127.0.0.1', port });
    const marker = encodeFrame(Buffer.from([MSG.ECHO, 0x6d, 0x62]));
    let seen = Buffer.alloc(0);
    sock.on('error', fail);
    sock.on('connect', () => {
      sock.write(encodeFrame(encodeTagMessage(MSG.SUBSCRIBE, tag)));
      sock.write(marker);
    });
    const onData = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      if (seen.includes(marker)) {
        sock.off('data', onData);
        done({ pause: () => sock.pause(), close: () => sock.destroy() });
      }
    };
    sock.on('data', onData);
  });
}

/** Publishes over CongSocket, `count` messages, waiting for the socket to drain; resolves once the broker echoed. */
function publish(port: number, tag: string, count: number): Promise<number> {
  const msg = encodeFrame(encodeSignal(tag, PAYLOAD.BINARY, Buffer.alloc(messageBytes - tag.length - 3, 0x4d)));
  const marker = encodeFrame(Buffer.from([MSG.ECHO, 0x70, 0x62]));
  return new Promise((done, fail) => {
    const sock = net.createConnection({ host: '127.0.0.1', port });
    const started = Date.now();
    let seen = Buffer.alloc(0);
    sock.on('error', fail);
    sock.on('data', (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]).subarray(-64);
      if (seen.includes(marker)) {
        sock.destroy();
        done(Date.now() - started);
      }
    });
    sock.on('connect', async () => {
      for (let i = 0; i < count; i++) {
        if (!sock.write(msg)) await new Promise((drained) => sock.once('drain', drained));
      }
      sock.write(marker);
    });
  });
}

async function scenario(kind: string): Promise<string> {
  const server = await startServer();
  const pid = server.child.pid!;
  const list: Receiver[] = [];
  try {
    for (let i = 0; i < receivers; i++) {
      const ws = kind === 'ws' || (kind === 'mixed' && i % 2 === 0);
      list.push(await (ws ? wsReceiver(server.ws, 'mem') : congReceiver(server.cong, 'mem')));
    }
    for (const r of list) r.pause();
    await new Promise((settle) => setTimeout(settle, 500));
    const baseline = rss(pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rss(pid));
    }, 20);
    const took = await publish(server.cong, 'mem', publishes);
    await new Promise((settle) => setTimeout(settle, 1000));
    clearInterval(sampler);
    peak = Math.max(peak, rss(pid));
    const growth = peak - baseline;
    const bound = receivers * (limit + messageBytes) + MARGIN;
    const mb = (n: number): string => `${(n / MiB).toFixed(0)} MiB`;
    return `| ${kind} | ${receivers} | ${mb(baseline)} | ${mb(peak)} | **${mb(growth)}** | ${mb(bound)} | ${growth <= bound ? 'met' : 'NOT met'} | ${took} ms |`;
  } finally {
    for (const r of list) r.close();
    server.child.kill('SIGKILL');
  }
}

console.log(
  `memory bound: ${receivers} paused receivers, limit ${limit} B, ${publishes} publishes of ${messageBytes} B, slow-consumer drop, server ${root}`,
);
console.log('| receivers | count | RSS before | peak RSS | peak growth | bound: n × (limit + message) + 64 MiB | target | publish time |');
console.log('|---|---|---|---|---|---|---|---|');
for (const kind of transports) console.log(await scenario(kind));
