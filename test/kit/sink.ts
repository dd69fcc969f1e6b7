// A receiver for load tests: counts every message and its size without keeping big payloads, and can stop
// reading (pause) to play a slow consumer. One interface over WebSocket, CongSocket and the in-memory link.
import net from 'node:net';
import WebSocket from 'ws';
import { MSG } from '../../src/protocol/codes.js';
import { encodeFrame } from '../../src/protocol/congsocket.js';
import { encodeTagMessage } from '../../src/protocol/messages.js';
import type { Transport } from './raw-client.js';
import type { MemoryEndpoint } from '../../src/transport/memory.js';
import type { IosigServer } from '../../src/server.js';
import { TimeoutError } from './wait.js';

/** Messages up to this size are kept whole (greeting, CID_RES, echo markers, PONG...). */
const KEEP_BYTES = 64;

export class Sink {
  /** Messages of type SIGNAL received, and their bytes. */
  signals = 0;
  signalBytes = 0;
  /** Sizes of every SIGNAL, in order (for checks on big messages). */
  readonly signalSizes: number[] = [];
  /** Small messages of other types, whole. */
  readonly small: Buffer[] = [];
  closed = false;
  cid = '';
  private ws: WebSocket | null = null;
  private sock: net.Socket | null = null;
  private mem: MemoryEndpoint | null = null;
  private waiters: (() => void)[] = [];
  // CongSocket frame parser state: a header being read, then `left` payload bytes of which the first few are kept.
  private header: number[] = [];
  private left = -1;
  private size = 0;
  private head: number[] = [];
  private markers = 0;

  private constructor(readonly kind: Transport | 'memory') {}

  /** A receiver on the server's in-memory link (the stream path; pausing it is a full socket buffer). */
  static inMemory(server: IosigServer): Sink {
    const sink = new Sink('memory');
    const endpoint = server.connectInMemory({ transport: 'ws' });
    sink.mem = endpoint;
    endpoint.on('message', (msg: Buffer) => sink.onMessage(msg[0]!, msg.length, msg.subarray(0, KEEP_BYTES)));
    endpoint.on('close', () => sink.markClosed());
    return sink;
  }

  static async open(kind: Transport, port: number, opts: { autoPong?: boolean } = {}): Promise<Sink> {
    const sink = new Sink(kind);
    await new Promise<void>((resolve, reject) => {
      if (kind === 'ws') {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false, autoPong: opts.autoPong ?? true });
        ws.binaryType = 'nodebuffer';
        sink.ws = ws;
        ws.on('open', resolve);
        ws.on('error', reject);
        ws.on('message', (data: Buffer) => sink.onMessage(data[0]!, data.length, data.subarray(0, KEEP_BYTES)));
        ws.on('close', () => sink.markClosed());
      } else {
        const sock = net.createConnection({ host: '127.0.0.1', port });
        sink.sock = sock;
        sock.on('connect', resolve);
        sock.on('error', reject);
        sock.on('data', (chunk: Buffer) => sink.onCong(chunk));
        sock.on('close', () => sink.markClosed());
      }
    });
    return sink;
  }

  private onCong(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.left < 0) {
        this.header.push(chunk[i++]!);
        const type = this.header[0]!;
        if (this.header.length < type + 1) continue;
        let len = 0;
        for (let k = type; k >= 1; k--) len = len * 256 + this.header[k]!;
        this.header = [];
        this.left = len;
        this.size = len;
        this.head = [];
        continue;
      }
      const take = Math.min(this.left, chunk.length - i);
      for (let k = 0; k < take && this.head.length < KEEP_BYTES; k++) this.head.push(chunk[i + k]!);
      i += take;
      this.left -= take;
      if (this.left === 0) {
        this.left = -1;
        this.onMessage(this.head[0]!, this.size, Buffer.from(this.head));
      }
    }
  }

  private onMessage(type: number, size: number, head: Buffer): void {
    if (type === MSG.SIGNAL) {
      this.signals++;
      this.signalBytes += size;
      this.signalSizes.push(size);
    } else if (size <= KEEP_BYTES) {
      if (type === MSG.PING && this.kind === 'cong') this.send(Buffer.from([MSG.PONG]));
      this.small.push(Buffer.from(head));
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private markClosed(): void {
    this.closed = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  send(msg: Uint8Array): void {
    if (this.ws) {
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(msg, { binary: true });
    } else if (this.sock && !this.sock.destroyed) {
      this.sock.write(encodeFrame(msg));
    } else if (this.mem && !this.mem.closed) {
      this.mem.send(msg);
    }
  }

  /** Waits until `cond` holds; wakes on every message and on the close. */
  async until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!cond()) {
      const left = end - Date.now();
      if (left <= 0) throw new TimeoutError(`${what} (${this.kind}: ${this.signals} signals, closed ${this.closed})`, timeoutMs);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Round trip: an ECHO marker comes back once everything sent before it was handled. */
  async sync(timeoutMs = 5000): Promise<void> {
    const n = ++this.markers;
    const marker = Buffer.from([MSG.ECHO, 0x53, 0x4b, n & 0xff, (n >>> 8) & 0xff]);
    this.send(marker);
    await this.until(() => this.small.some((m) => m.equals(marker)), timeoutMs, 'the sync echo');
  }

  /** Greeting, CID_REQ, SUBSCRIBE to `tags`, then a round trip so the subscription is in place. */
  async join(tags: string): Promise<void> {
    this.send(Buffer.from([MSG.CID_REQ]));
    await this.until(() => this.small.some((m) => m[0] === MSG.CID_RES), 5000, 'CID_RES');
    this.cid = this.small.find((m) => m[0] === MSG.CID_RES)!.subarray(1).toString('utf8');
    if (tags) this.send(encodeTagMessage(MSG.SUBSCRIBE, tags));
    await this.sync();
  }

  /** Stops reading from the socket: the server's send buffer for us fills up. */
  pause(): void {
    if (this.ws) this.ws.pause();
    else if (this.sock) this.sock.pause();
    else this.mem?.pause();
  }

  resume(): void {
    if (this.ws) this.ws.resume();
    else if (this.sock) this.sock.resume();
    else this.mem?.resume();
  }

  close(): void {
    this.ws?.terminate();
    this.sock?.destroy();
    this.mem?.close();
  }
}

/** Opens `count` sinks of a kind, each subscribed to `tags` (`port` is the server for the in-memory link). */
export async function openSinks(kind: Transport | 'memory', port: number | IosigServer, count: number, tags: string): Promise<Sink[]> {
  const sinks: Sink[] = [];
  for (let i = 0; i < count; i++) {
    const sink = kind === 'memory' ? Sink.inMemory(port as IosigServer) : await Sink.open(kind, port as number);
    await sink.join(tags);
    sinks.push(sink);
  }
  return sinks;
}
