// "Ceiling" server for the benchmarks: the least work a broker can do and still
// speak enough of the protocol for the bench clients.
//
//  * WebSocket: raw uWebSockets.js native pub/sub. On open it sends a
//    SERVER_TIME_NONCE-shaped 13-byte message and SERVER_READY; CID_REQ gets an
//    anonymous CID; SUBSCRIBE → ws.subscribe(tag) per comma-separated tag;
//    SIGNAL → app.publish(tag, msg, true). No keys, no quotas, no unicast.
//  * CongSocket: node:net; SIGNAL is framed once per publish and the same buffer
//    is queued on every subscriber; each subscriber gets one write per
//    event-loop turn (the queued frames concatenated).
//
// Usage: node dist/bench/ceiling-server.js [--port N] [--cong N]   (0 = any free port)
// Prints `READY <wsPort> <congPort>` once both listeners are up.
import './servers/gc-on-signal.js';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import uWS from 'uWebSockets.js';
import {
  B0_SERVER_TIME_NONCE, C0_SERVER_READY, C1_CID_REQ, C2_CID_RES, CD_PING, CE_PONG, D0_SIGNAL, D3_SUBSCRIBE,
  CongParser, congFrame, congHeaderSize, writeCongHeader,
} from './lib/proto.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

function nonce(): Buffer {
  const b = Buffer.allocUnsafe(13);
  const now = Date.now();
  b[0] = B0_SERVER_TIME_NONCE;
  b.writeUInt32LE(Math.floor(now / 1000), 1);
  b.writeUInt16LE(now % 1000, 5);
  randomBytes(6).copy(b, 7);
  return b;
}

function anonCid(): string {
  return '?' + randomBytes(3).toString('base64url');
}

const SERVER_READY = Buffer.from([C0_SERVER_READY]);

// ---------------------------------------------------------------- WebSocket (uWS)

function startWs(port: number): Promise<number> {
  const app = uWS.App();
  app.ws('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: 16 * 1024 * 1024,
    maxBackpressure: 1024 * 1024 * 1024,
    closeOnBackpressureLimit: 0,
    idleTimeout: 0,
    sendPingsAutomatically: false,
    open: (ws) => {
      ws.cork(() => {
        ws.send(nonce(), true);
        ws.send(SERVER_READY, true);
      });
    },
    message: (ws, ab) => {
      const m = new Uint8Array(ab);
      if (m.length === 0) return;
      const code = m[0];
      if (code === D0_SIGNAL) {
        if (m.length < 3 || m.length < 2 + m[1]!) return;
        const tag = Buffer.from(ab, 2, m[1]!).toString('utf8');
        app.publish(tag, ab, true);
      } else if (code === D3_SUBSCRIBE) {
        if (m.length < 3 || m.length !== 2 + m[1]!) return;
        for (const tag of Buffer.from(ab, 2, m[1]!).toString('utf8').split(',')) ws.subscribe(tag);
      } else if (code === C1_CID_REQ) {
        const cid = Buffer.from(anonCid(), 'utf8');
        const out = Buffer.allocUnsafe(1 + cid.length);
        out[0] = C2_CID_RES;
        cid.copy(out, 1);
        ws.send(out, true);
      } else if (code === CD_PING) {
        ws.send(Buffer.from([CE_PONG]), true);
      }
    },
  });
  return new Promise((resolve, reject) => {
    app.listen('127.0.0.1', port, (ls) => {
      if (!ls) { reject(new Error('uWS listen failed on ' + port)); return; }
      resolve(uWS.us_socket_local_port(ls as unknown as uWS.us_socket));
    });
  });
}

// ---------------------------------------------------------------- CongSocket (node:net)

interface CongClient {
  sock: net.Socket;
  parser: CongParser;
  queue: Buffer[];
  queued: number;
  channels: Set<string>;
}

const channels = new Map<string, Set<CongClient>>();
const dirty: CongClient[] = [];
let flushScheduled = false;

function flush(): void {
  flushScheduled = false;
  for (let i = 0; i < dirty.length; i++) {
    const c = dirty[i]!;
    const q = c.queue;
    if (q.length === 1) c.sock.write(q[0]!);
    else c.sock.write(Buffer.concat(q, c.queued));
    c.queue = [];
    c.queued = 0;
  }
  dirty.length = 0;
}

function enqueue(c: CongClient, frame: Buffer): void {
  if (c.queue.length === 0) {
    dirty.push(c);
    if (!flushScheduled) { flushScheduled = true; setImmediate(flush); }
  }
  c.queue.push(frame);
  c.queued += frame.length;
}

function congMessage(c: CongClient, m: Buffer): void {
  const code = m[0];
  if (code === D0_SIGNAL) {
    if (m.length < 3 || m.length < 2 + m[1]!) return;
    const subs = channels.get(m.toString('utf8', 2, 2 + m[1]!));
    if (subs === undefined) return;
    // Frame once, share the buffer among all subscribers.
    const h = congHeaderSize(m.length);
    const frame = Buffer.allocUnsafe(h + m.length);
    writeCongHeader(frame, 0, m.length);
    m.copy(frame, h);
    for (const s of subs) enqueue(s, frame);
  } else if (code === D3_SUBSCRIBE) {
    if (m.length < 3 || m.length !== 2 + m[1]!) return;
    for (const tag of m.toString('utf8', 2, 2 + m[1]!).split(',')) {
      let set = channels.get(tag);
      if (set === undefined) { set = new Set(); channels.set(tag, set); }
      set.add(c);
      c.channels.add(tag);
    }
  } else if (code === C1_CID_REQ) {
    const cid = Buffer.from(anonCid(), 'utf8');
    enqueue(c, congFrame(Buffer.concat([Buffer.from([C2_CID_RES]), cid])));
  } else if (code === CD_PING) {
    enqueue(c, congFrame(Buffer.from([CE_PONG])));
  }
}

function startCong(port: number): Promise<number> {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    const c: CongClient = { sock, parser: new CongParser(), queue: [], queued: 0, channels: new Set() };
    sock.write(Buffer.concat([congFrame(nonce()), congFrame(SERVER_READY)]));
    const onMsg = (m: Buffer): void => congMessage(c, m);
    sock.on('data', (chunk: Buffer) => { if (!c.parser.push(chunk, onMsg)) sock.destroy(); });
    sock.on('error', () => {});
    sock.on('close', () => {
      for (const tag of c.channels) {
        const set = channels.get(tag);
        if (set) { set.delete(c); if (set.size === 0) channels.delete(tag); }
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    });
  });
}

const wsPort = await startWs(arg('--port', 0));
const congPort = await startCong(arg('--cong', 0));
console.log(`READY ${wsPort} ${congPort}`);
