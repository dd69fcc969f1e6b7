// A raw iosignal protocol client for tests, over WebSocket or CongSocket (plain or TLS), with one interface.
// It sends exactly the bytes it is given and records exactly what it receives (messages, WS control
// frames, CongSocket frame headers, the close), so tests can check the wire behaviour of the server.
// The sockets themselves are test/kit/wire.ts, the layer the benchmark uses too.
import { type Wire, type WireHandlers, type WireTarget, type WireTls, openMemoryWire, openWire } from './wire.js';
import { TimeoutError, sleep } from './wait.js';

export type Transport = 'ws' | 'cong';

export type RxEvent =
  | { kind: 'msg'; data: Buffer; header?: Buffer }
  | { kind: 'ping' }
  | { kind: 'pong' };

export interface RawClientOptions {
  /** HTTP headers for the WebSocket upgrade request (ignored for cong). */
  headers?: Record<string, string>;
  /**
   * Answer keepalive pings automatically. ws: the WebSocket layer answers ping frames (default true).
   * cong: a received PING message `[CD]` is answered with `[CE]` and not queued (default false).
   */
  autoPong?: boolean;
  /** Connect timeout in ms (default 3000). */
  connectTimeoutMs?: number;
  /** WebSocket path (default '/'). */
  path?: string;
  /** Source address to connect from (e.g. 127.0.0.2, a second loopback client). */
  localAddress?: string;
  /** wss / CongSocket over TLS. */
  tls?: WireTls;
}

const DEFAULT_NEXT_MS = 1000;

export class RawClient {
  /** Received events in arrival order; `head` is the first unconsumed index. */
  private queue: (RxEvent | undefined)[] = [];
  private head = 0;
  private waiters: (() => void)[] = [];
  private wire: Wire | null = null;

  closed = false;
  /** ws: close code from the server (1005 = none); cong: undefined. */
  closeCode: number | undefined;
  closedAt = 0;
  /** Protocol messages received so far, read or not. */
  messagesReceived = 0;
  /** WS pong control frames received (answers to our PING messages or ping frames). */
  pongs = 0;
  private pongsTaken = 0;
  /** WS ping control frames received from the server, or CongSocket PING messages when autoPong is on. */
  pings = 0;
  /** Protocol violations seen in the server's CongSocket output (zero-length frames, bad type bytes, non-minimal headers). */
  readonly framingProblems: string[] = [];
  /** Socket errors (ECONNRESET and such), kept for diagnostics. */
  readonly errors: string[] = [];
  cid = '';

  private constructor(readonly kind: Transport) {}

  /** Connects to a port on 127.0.0.1, or through a server's in-memory link (`{ memory: server }`). */
  static async connect(kind: Transport, target: WireTarget, opts: RawClientOptions = {}): Promise<RawClient> {
    const c = new RawClient(kind);
    const handlers: WireHandlers = {
      message: (data, header) => {
        c.messagesReceived++;
        c.push(header ? { kind: 'msg', data, header } : { kind: 'msg', data });
      },
      ping: () => {
        c.pings++;
        // A cong PING answered by autoPong is not queued; a ws ping frame is an event.
        if (kind === 'ws') c.push({ kind: 'ping' });
        else c.wake();
      },
      pong: () => {
        c.pongs++;
        c.push({ kind: 'pong' });
      },
      close: (code) => {
        c.closeCode = code;
        c.markClosed();
      },
      problem: (text) => c.framingProblems.push(text),
      error: (message) => c.errors.push(message),
    };
    c.wire =
      typeof target === 'number'
        ? await openWire(kind, target, handlers, { ...opts, strictFraming: true })
        : openMemoryWire(target, kind, handlers, opts);
    return c;
  }

  private push(ev: RxEvent): void {
    this.queue.push(ev);
    this.wake();
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.closedAt = Date.now();
    this.wake();
  }

  /** Waits for any new event or the close, at most `ms`. */
  private waitChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.waiters.push(finish);
    });
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private takeFirst(pred: (ev: RxEvent) => boolean): RxEvent | undefined {
    for (let i = this.head; i < this.queue.length; i++) {
      const ev = this.queue[i];
      if (ev && pred(ev)) {
        if (i === this.head) {
          this.queue[i] = undefined;
          this.head++;
          while (this.head < this.queue.length && this.queue[this.head] === undefined) this.head++;
          this.compact();
        } else {
          this.queue[i] = undefined;
        }
        return ev;
      }
    }
    return undefined;
  }

  /** Number of unconsumed messages (control events not counted). */
  get pending(): number {
    let n = 0;
    for (let i = this.head; i < this.queue.length; i++) if (this.queue[i]?.kind === 'msg') n++;
    return n;
  }

  /** Next received event of any kind (message, ping, pong), in arrival order. */
  async nextEvent(timeoutMs = DEFAULT_NEXT_MS): Promise<RxEvent> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const ev = this.takeFirst(() => true);
      if (ev) return ev;
      if (this.closed) throw new Error(`${this.kind} connection closed while waiting for an event`);
      const left = end - Date.now();
      if (left <= 0) throw new TimeoutError(`an event on ${this.kind}`, timeoutMs);
      await this.waitChange(left);
    }
  }

  /** Next full message with its CongSocket header (cong only; ws gives header undefined). */
  async nextFrame(timeoutMs = DEFAULT_NEXT_MS): Promise<{ data: Buffer; header?: Buffer }> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const ev = this.takeFirst((e) => e.kind === 'msg');
      if (ev && ev.kind === 'msg') return ev.header ? { data: ev.data, header: ev.header } : { data: ev.data };
      if (this.closed) throw new Error(`${this.kind} connection closed while waiting for a message`);
      const left = end - Date.now();
      if (left <= 0) throw new TimeoutError(`a message on ${this.kind}`, timeoutMs);
      await this.waitChange(left);
    }
  }

  /** Next received protocol message (control frames are skipped, not consumed). */
  async next(timeoutMs = DEFAULT_NEXT_MS): Promise<Buffer> {
    return (await this.nextFrame(timeoutMs)).data;
  }

  /** Next message whose first byte is `type`; other messages before it are consumed and returned in `skipped`. */
  async nextOfType(type: number, timeoutMs = DEFAULT_NEXT_MS): Promise<{ msg: Buffer; skipped: Buffer[] }> {
    const end = Date.now() + timeoutMs;
    const skipped: Buffer[] = [];
    for (;;) {
      const msg = await this.next(Math.max(1, end - Date.now()));
      if (msg[0] === type) return { msg, skipped };
      skipped.push(msg);
    }
  }

  /** Waits `ms` and fails if any protocol message arrived (or was already queued). */
  async expectNothing(ms: number): Promise<void> {
    if (this.pending === 0) await sleep(ms);
    const ev = this.takeFirst((e) => e.kind === 'msg');
    if (ev && ev.kind === 'msg') {
      throw new Error(`expected no message on ${this.kind}, got ${ev.data.toString('hex')}`);
    }
  }

  /** Waits for one more WS pong control frame than has been taken so far. */
  async nextPong(timeoutMs = DEFAULT_NEXT_MS): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.pongs <= this.pongsTaken) {
      if (this.closed) throw new Error('connection closed while waiting for a pong frame');
      const left = end - Date.now();
      if (left <= 0) throw new TimeoutError('a ws pong frame', timeoutMs);
      await this.waitChange(left);
    }
    this.pongsTaken++;
    this.takeFirst((e) => e.kind === 'pong');
  }

  async waitClosed(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = end - Date.now();
      if (left <= 0) throw new TimeoutError(`the server to close the ${this.kind} connection`, timeoutMs);
      await this.waitChange(left);
    }
  }

  /** One protocol message: one binary frame (ws) or one minimal CongSocket frame (cong). */
  send(msg: Uint8Array): void {
    this.wire?.send(msg);
  }

  /** cong: the bytes as they are on the TCP stream (no framing); ws: one raw binary frame. */
  sendRaw(bytes: Uint8Array): void {
    this.wire?.sendRaw(bytes);
  }

  /** One message as several WebSocket frames (a first frame and continuations; ws only). */
  async sendFragmented(parts: Uint8Array[]): Promise<void> {
    if (this.kind !== 'ws' || !this.wire) throw new Error('sendFragmented needs a ws client');
    await this.wire.sendFragmented(parts);
  }

  /** A WebSocket text frame (ws only). */
  sendText(text: string): void {
    if (this.kind !== 'ws' || !this.wire) throw new Error('sendText needs a ws client');
    this.wire.sendText(text);
  }

  /** A WebSocket ping control frame (ws only). */
  sendPingFrame(): void {
    if (this.kind === 'ws' && !this.closed) this.wire?.sendPingFrame();
  }

  /**
   * Opening sequence: consumes SERVER_TIME_NONCE (13 bytes) and SERVER_READY, sends CID_REQ and
   * returns the cid from CID_RES.
   */
  async handshake(timeoutMs = 2000): Promise<string> {
    const end = Date.now() + timeoutMs;
    const nonce = await this.next(timeoutMs);
    if (nonce[0] !== 0xb0 || nonce.length !== 13) {
      throw new Error(`expected SERVER_TIME_NONCE (13 bytes b0..), got ${nonce.toString('hex')}`);
    }
    const ready = await this.next(Math.max(1, end - Date.now()));
    if (ready.length !== 1 || ready[0] !== 0xc0) throw new Error(`expected SERVER_READY c0, got ${ready.toString('hex')}`);
    this.send(Buffer.from([0xc1]));
    const res = await this.next(Math.max(1, end - Date.now()));
    if (res[0] !== 0xc2) throw new Error(`expected CID_RES, got ${res.toString('hex')}`);
    this.cid = res.subarray(1).toString('utf8');
    return this.cid;
  }

  private syncCounter = 0;

  /**
   * Round trip through the server: sends a short ECHO with a unique marker (< 30 bytes, so it is
   * echoed, §3.9) and waits for it. Everything the server wrote to this connection before it
   * handled the ECHO is returned, in order (messages and, with `withControl`, ping/pong frames).
   */
  async sync(timeoutMs = 2000): Promise<Buffer[]> {
    return (await this.syncEvents(timeoutMs)).filter((e) => e.kind === 'msg').map((e) => (e as { data: Buffer }).data);
  }

  async syncEvents(timeoutMs = 2000): Promise<RxEvent[]> {
    const n = ++this.syncCounter;
    const marker = Buffer.from([0xcc, 0x7e, 0x53, 0x59, 0x4e, (n >>> 8) & 0xff, n & 0xff, 0x7e]);
    this.send(marker);
    const end = Date.now() + timeoutMs;
    const before: RxEvent[] = [];
    for (;;) {
      const left = end - Date.now();
      if (left <= 0) throw new TimeoutError('the sync ECHO round trip', timeoutMs);
      const ev = await this.nextEvent(left);
      if (ev.kind === 'msg' && ev.data.equals(marker)) return before;
      if (ev.kind === 'pong') this.pongsTaken++;
      before.push(ev);
    }
  }

  /** Closes from the client side and waits (bounded) for the socket to be gone. */
  async close(timeoutMs = 1000): Promise<void> {
    if (!this.closed) {
      this.wire?.end();
      try {
        await this.waitClosed(timeoutMs);
      } catch {
        /* fall through to a hard close */
      }
    }
    this.destroy();
  }

  /** Drops the connection at once (TCP reset / no WS close handshake). */
  destroy(): void {
    this.wire?.destroy();
    this.markClosed();
  }
}

export function connectRaw(kind: Transport, port: WireTarget, opts?: RawClientOptions): Promise<RawClient> {
  return RawClient.connect(kind, port, opts);
}

/** Tracks clients so a test's afterEach can close them all. */
export class ClientPool {
  private readonly clients: RawClient[] = [];

  async open(kind: Transport, port: WireTarget, opts?: RawClientOptions): Promise<RawClient> {
    const c = await connectRaw(kind, port, opts);
    this.clients.push(c);
    return c;
  }

  /** Connects and runs the opening sequence; the cid is in `client.cid`. */
  async ready(kind: Transport, port: WireTarget, opts?: RawClientOptions): Promise<RawClient> {
    const c = await this.open(kind, port, opts);
    await c.handshake();
    return c;
  }

  /** Protocol violations in the server output seen by every client of the pool so far. */
  problems(): string[] {
    return this.clients.flatMap((c) => c.framingProblems.map((p) => `${c.kind} ${c.cid || '(no cid)'}: ${p}`));
  }

  async closeAll(): Promise<void> {
    const all = this.clients.splice(0);
    await Promise.all(all.map((c) => c.close(500)));
  }
}
