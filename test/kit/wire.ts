// The one socket layer of the tests and the benchmark: a connection to an iosig (or iosignal) server over
// WebSocket or CongSocket, plain or TLS, that hands over whole protocol messages and sends whole messages.
// RawClient (test/kit/raw-client.ts) queues and awaits on top of it; bench/lib/conn.ts drives it with callbacks.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import tls from 'node:tls';
import WebSocket from 'ws';
import { CongDecoder, encodeFrame } from '../../src/protocol/congsocket.js';
import type { MemoryEndpoint, MemoryLinkOptions } from '../../src/transport/memory.js';
import { WsParser, wsClientFrame } from './ws-frames.js';

export type WireKind = 'ws' | 'cong';

export interface WireTls {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Default true; with a `ca` the server certificate must chain to it. */
  rejectUnauthorized?: boolean;
}

export interface WireOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** wss / CongSocket over TLS. */
  tls?: WireTls;
  /** HTTP headers for the WebSocket upgrade (ws only). */
  headers?: Record<string, string>;
  /** WebSocket path (default '/'). */
  path?: string;
  /** Source address to connect from (e.g. 127.0.0.2, a second loopback client). */
  localAddress?: string;
  /**
   * Answer keepalive probes. ws: ping frames get a pong (default true). cong: a PING message [CD] is answered
   * with [CE] and reported to `ping`, not to `message` (default false).
   */
  autoPong?: boolean;
  /** ws only: the `ws` package (default), or a hand-written RFC 6455 client that costs less per message. */
  wsClient?: 'wslib' | 'raw';
  /** Connect (and upgrade / TLS handshake) time limit (default 3000 ms). */
  connectTimeoutMs?: number;
  /**
   * cong only: check every server frame against the §1.2 sender rules (minimal header, no empty frame, known
   * type byte) and report the header with each message. Off: the project's own decoder, cheapest per message.
   */
  strictFraming?: boolean;
}

export interface WireHandlers {
  /** One whole protocol message; `header` is the CongSocket frame header with strictFraming. */
  message(data: Buffer, header?: Buffer): void;
  /** A ws ping frame, or a cong PING answered by autoPong. */
  ping?(): void;
  /** A ws pong frame. */
  pong?(): void;
  /** Called once; `code` is the ws close code (1005 = none), undefined on cong. */
  close(code: number | undefined): void;
  /** A framing rule the server broke (text frame, bad frame header…). */
  problem?(text: string): void;
  /** A socket error after the connection opened (ECONNRESET…). */
  error?(message: string): void;
}

export interface Wire {
  readonly kind: WireKind;
  readonly closed: boolean;
  /** One protocol message: one binary frame (ws) or one minimal CongSocket frame (cong). */
  send(msg: Uint8Array): void;
  /** Several messages in one socket write where the transport allows. */
  sendMany(msgs: Uint8Array[]): void;
  /** cong: bytes as they are on the TCP stream (no framing); ws: one binary frame. */
  sendRaw(bytes: Uint8Array): void;
  /** A WebSocket text frame (ws only). */
  sendText(text: string): void;
  /** One message as several WebSocket frames (ws with the `ws` package only). */
  sendFragmented(parts: Uint8Array[]): Promise<void>;
  /** A WebSocket ping control frame (ws only). */
  sendPingFrame(): void;
  /** Graceful close (ws close handshake / TCP FIN). */
  end(): void;
  /** Drop at once (TCP reset, no close handshake). */
  destroy(): void;
}

const PING = 0xcd;
const PONG_FRAME = encodeFrame(Buffer.from([0xce]));

export async function openWire(kind: WireKind, port: number, handlers: WireHandlers, opts: WireOptions = {}): Promise<Wire> {
  const ms = opts.connectTimeoutMs ?? 3000;
  if (kind === 'cong') return new CongWire(await connectSocket(port, opts, ms), handlers, opts);
  if (opts.wsClient === 'raw') return rawWsUpgrade(await connectSocket(port, opts, ms), port, handlers, opts, ms);
  return openWsLib(port, handlers, opts, ms);
}

function once(handlers: WireHandlers): WireHandlers {
  let closed = false;
  return {
    ...handlers,
    close: (code) => {
      if (closed) return;
      closed = true;
      handlers.close(code);
    },
  };
}

/** TCP or TLS connection; resolves when it is usable, rejects on error or after `ms`. */
function connectSocket(port: number, opts: WireOptions, ms: number): Promise<net.Socket> {
  const host = opts.host ?? '127.0.0.1';
  return new Promise((resolve, reject) => {
    const local = opts.localAddress ? { localAddress: opts.localAddress } : {};
    const sock: net.Socket = opts.tls ? tls.connect({ host, port, ...local, ...opts.tls }) : net.connect({ host, port, ...local });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`connect to ${host}:${port} timed out after ${ms} ms`));
    }, ms);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    sock.once('error', fail);
    sock.once('close', () => fail(new Error(`the socket to ${host}:${port} closed before it was usable`)));
    sock.once(opts.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      sock.removeAllListeners('close');
      sock.setNoDelay(true);
      resolve(sock);
    });
  });
}

// ---- CongSocket ---------------------------------------------------------------------------------

class CongWire implements Wire {
  readonly kind = 'cong';
  closed = false;
  private readonly handlers: WireHandlers;
  private readonly autoPong: boolean;
  private rxBuf: Buffer = Buffer.alloc(0);

  constructor(
    private readonly sock: net.Socket,
    handlers: WireHandlers,
    opts: WireOptions,
  ) {
    this.handlers = once(handlers);
    this.autoPong = opts.autoPong ?? false;
    if (opts.strictFraming) sock.on('data', (chunk: Buffer) => this.strict(chunk));
    else {
      const decoder = new CongDecoder(
        {
          // A view of the received chunk: node never reuses those, so no copy is needed.
          frame: (payload) => this.deliver(payload),
          error: (what, detail) => {
            this.handlers.problem?.(`bad frame from server: ${what} ${detail}`);
            sock.destroy();
          },
        },
        0xffffffff,
      );
      sock.on('data', (chunk: Buffer) => decoder.push(chunk));
    }
    sock.on('error', (err: Error) => this.handlers.error?.(err.message));
    sock.on('close', () => {
      this.closed = true;
      this.handlers.close(undefined);
    });
  }

  private deliver(payload: Buffer, header?: Buffer): void {
    if (this.autoPong && payload.length === 1 && payload[0] === PING) {
      this.sock.write(PONG_FRAME);
      this.handlers.ping?.();
      return;
    }
    this.handlers.message(payload, header);
  }

  /** The §1.2 sender rules, checked on everything the server writes. */
  private strict(chunk: Buffer): void {
    let data = this.rxBuf.length ? Buffer.concat([this.rxBuf, chunk]) : chunk;
    let pos = 0;
    while (pos < data.length) {
      const type = data[pos]!;
      if (type < 1 || type > 4) {
        this.handlers.problem?.(`bad frame type byte 0x${type.toString(16)} from server`);
        data = Buffer.alloc(0);
        pos = 0;
        break;
      }
      const hs = type + 1;
      if (data.length - pos < hs) break;
      let len = 0;
      for (let i = type; i >= 1; i--) len = len * 256 + data[pos + i]!;
      if (data.length - pos - hs < len) break;
      const header = Buffer.from(data.subarray(pos, pos + hs));
      const minimal = len <= 0xff ? 1 : len <= 0xffff ? 2 : len <= 0xffffff ? 3 : 4;
      if (type !== minimal) this.handlers.problem?.(`non-minimal header ${header.toString('hex')}`);
      const payload = Buffer.from(data.subarray(pos + hs, pos + hs + len));
      pos += hs + len;
      if (len === 0) {
        this.handlers.problem?.('zero-length frame from server');
        continue;
      }
      this.deliver(payload, header);
    }
    this.rxBuf = pos < data.length ? Buffer.from(data.subarray(pos)) : Buffer.alloc(0);
  }

  private write(bytes: Uint8Array): void {
    if (!this.sock.destroyed && this.sock.writable) this.sock.write(bytes);
  }
  send(msg: Uint8Array): void {
    this.write(encodeFrame(msg));
  }
  sendMany(msgs: Uint8Array[]): void {
    if (msgs.length === 1) this.send(msgs[0]!);
    else this.write(Buffer.concat(msgs.map((m) => encodeFrame(m))));
  }
  sendRaw(bytes: Uint8Array): void {
    this.write(bytes);
  }
  sendText(): void {
    throw new Error('sendText needs a ws wire');
  }
  sendFragmented(): Promise<void> {
    return Promise.reject(new Error('sendFragmented needs a ws wire'));
  }
  sendPingFrame(): void {
    throw new Error('sendPingFrame needs a ws wire');
  }
  end(): void {
    this.sock.end();
  }
  destroy(): void {
    this.sock.destroy();
  }
}

// ---- WebSocket with the ws package ----------------------------------------------------------------

function openWsLib(port: number, rawHandlers: WireHandlers, opts: WireOptions, ms: number): Promise<Wire> {
  const handlers = once(rawHandlers);
  const scheme = opts.tls ? 'wss' : 'ws';
  const options: WebSocket.ClientOptions = {
    headers: opts.headers ?? {},
    perMessageDeflate: false,
    autoPong: opts.autoPong ?? true,
    handshakeTimeout: ms,
    ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    ...opts.tls,
  };
  const ws = new WebSocket(`${scheme}://${opts.host ?? '127.0.0.1'}:${port}${opts.path ?? '/'}`, options);
  ws.binaryType = 'nodebuffer';
  const wire = new WsLibWire(ws, handlers);
  return new Promise((resolve, reject) => {
    let opened = false;
    ws.on('open', () => {
      opened = true;
      resolve(wire);
    });
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (!isBinary) handlers.problem?.(`server sent a text frame: ${buf.toString('hex')}`);
      handlers.message(buf);
    });
    ws.on('ping', () => handlers.ping?.());
    ws.on('pong', () => handlers.pong?.());
    ws.on('error', (err: Error) => {
      if (opened) handlers.error?.(err.message);
      else reject(err);
    });
    ws.on('close', (code: number) => {
      wire.closed = true;
      handlers.close(code);
      if (!opened) reject(new Error(`${scheme} closed before open (code ${code})`));
    });
  });
}

class WsLibWire implements Wire {
  readonly kind = 'ws';
  closed = false;
  constructor(
    private readonly ws: WebSocket,
    private readonly handlers: WireHandlers,
  ) {}
  private report = (err?: Error): void => {
    if (err) this.handlers.error?.(err.message);
  };
  send(msg: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(msg, { binary: true }, this.report);
  }
  sendMany(msgs: Uint8Array[]): void {
    for (const msg of msgs) this.send(msg);
  }
  sendRaw(bytes: Uint8Array): void {
    this.send(bytes);
  }
  sendText(text: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(text, { binary: false }, this.report);
  }
  async sendFragmented(parts: Uint8Array[]): Promise<void> {
    for (const [i, part] of parts.entries()) {
      await new Promise<void>((resolve) => {
        this.ws.send(part, { binary: true, fin: i === parts.length - 1 }, (err?: Error) => {
          this.report(err);
          resolve();
        });
      });
    }
  }
  sendPingFrame(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }
  end(): void {
    try {
      this.ws.close();
    } catch {
      /* not open yet */
    }
  }
  destroy(): void {
    this.ws.terminate();
  }
}

// ---- WebSocket, hand-written (cheap per message) -------------------------------------------------------

function rawWsUpgrade(sock: net.Socket, port: number, rawHandlers: WireHandlers, opts: WireOptions, ms: number): Promise<Wire> {
  const handlers = once(rawHandlers);
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString('base64');
    const extra = Object.entries(opts.headers ?? {})
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    sock.write(
      `GET ${opts.path ?? '/'} HTTP/1.1\r\nHost: ${opts.host ?? '127.0.0.1'}:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
    );
    let acc: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      cleanup();
      sock.destroy();
      reject(new Error('WebSocket upgrade timed out'));
    }, ms);
    const onData = (chunk: Buffer): void => {
      acc = acc.length === 0 ? chunk : Buffer.concat([acc, chunk]);
      const end = acc.indexOf('\r\n\r\n');
      if (end < 0) return;
      cleanup();
      const head = acc.subarray(0, end).toString('latin1');
      if (!/^HTTP\/1\.1 101/.test(head)) {
        sock.destroy();
        reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
        return;
      }
      resolve(new RawWsWire(sock, acc.subarray(end + 4), handlers, opts.autoPong ?? true));
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('closed during the WebSocket upgrade'));
    };
    function cleanup(): void {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('close', onClose);
    }
    sock.on('data', onData);
    sock.on('close', onClose);
    sock.on('error', (err: Error) => handlers.error?.(err.message));
  });
}

class RawWsWire implements Wire {
  readonly kind = 'ws';
  closed = false;
  private readonly parser = new WsParser();
  private closeCode = 1006;

  constructor(
    private readonly sock: net.Socket,
    leftover: Buffer,
    handlers: WireHandlers,
    autoPong: boolean,
  ) {
    const events = {
      message: (m: Buffer, binary: boolean): void => {
        if (!binary) handlers.problem?.(`server sent a text frame: ${m.toString('hex')}`);
        handlers.message(m);
      },
      ping: (payload: Buffer): void => {
        if (autoPong && !this.closed) sock.write(wsClientFrame(payload, 0xa));
        handlers.ping?.();
      },
      pong: (): void => handlers.pong?.(),
      close: (code: number): void => {
        this.closeCode = code;
        sock.end();
      },
    };
    sock.on('data', (chunk: Buffer) => {
      if (!this.parser.push(chunk, events)) {
        handlers.problem?.('the server sent a masked frame');
        sock.destroy();
      }
    });
    sock.on('close', () => {
      this.closed = true;
      handlers.close(this.closeCode);
    });
    if (leftover.length > 0) this.parser.push(leftover, events);
  }

  private write(bytes: Uint8Array): void {
    if (!this.closed && this.sock.writable) this.sock.write(bytes);
  }
  send(msg: Uint8Array): void {
    this.write(wsClientFrame(msg));
  }
  sendMany(msgs: Uint8Array[]): void {
    if (msgs.length === 1) this.send(msgs[0]!);
    else this.write(Buffer.concat(msgs.map((m) => wsClientFrame(m))));
  }
  sendRaw(bytes: Uint8Array): void {
    this.send(bytes);
  }
  sendText(text: string): void {
    this.write(wsClientFrame(Buffer.from(text, 'utf8'), 0x1));
  }
  sendFragmented(): Promise<void> {
    return Promise.reject(new Error('sendFragmented needs the ws package client'));
  }
  sendPingFrame(): void {
    this.write(wsClientFrame(Buffer.alloc(0), 0x9));
  }
  end(): void {
    this.write(wsClientFrame(Buffer.from([0x03, 0xe8]), 0x8));
    this.sock.end();
  }
  destroy(): void {
    this.sock.destroy();
  }
}

// ---- in memory ------------------------------------------------------------------------------------

/** A server to reach through its in-memory link instead of a port (src/transport/memory.ts). */
export interface MemoryTarget {
  memory: { connectInMemory(opts?: MemoryLinkOptions): MemoryEndpoint };
}

/** Where a wire goes: a port on `host`, or a server's in-memory link. */
export type WireTarget = number | MemoryTarget;

/**
 * The in-memory link as a Wire, so the same RawClient drives a connection without sockets. It carries whole
 * messages, so transport details have no equivalent: raw CongSocket bytes, WebSocket control and fragmented
 * frames (sendFragmented sends the joined message, as the server would see it), close codes.
 */
export function openMemoryWire(target: MemoryTarget, kind: WireKind, rawHandlers: WireHandlers, opts: WireOptions = {}): Wire {
  const handlers = once(rawHandlers);
  const peer: MemoryLinkOptions = { transport: kind };
  if (opts.tls) peer.tls = true;
  if (opts.localAddress) peer.peerIp = opts.localAddress;
  const forwarded = Object.entries(opts.headers ?? {}).find(([name]) => name.toLowerCase() === 'x-forwarded-for');
  if (forwarded) peer.forwardedFor = forwarded[1];
  const endpoint = target.memory.connectInMemory(peer);
  const autoPong = opts.autoPong ?? kind === 'ws';
  endpoint.autoPong = kind === 'ws' && autoPong;
  const wire = {
    kind,
    get closed(): boolean {
      return endpoint.closed;
    },
    send: (msg: Uint8Array) => endpoint.send(msg),
    sendMany: (msgs: Uint8Array[]) => {
      for (const msg of msgs) endpoint.send(msg);
    },
    sendRaw: (bytes: Uint8Array) => {
      if (kind === 'cong') throw new Error('raw CongSocket bytes need a socket; the in-memory link carries whole messages');
      endpoint.send(bytes);
    },
    sendText: (text: string) => endpoint.sendText(text),
    sendFragmented: async (parts: Uint8Array[]) => endpoint.send(Buffer.concat(parts)),
    sendPingFrame: () => {
      throw new Error('WebSocket control frames need a socket');
    },
    end: () => endpoint.close(),
    destroy: () => endpoint.close(),
  } satisfies Wire;
  endpoint.on('message', (msg: Buffer) => {
    if (kind === 'cong' && autoPong && msg.length === 1 && msg[0] === PING) {
      endpoint.send(Buffer.from([0xce]));
      handlers.ping?.();
      return;
    }
    handlers.message(msg);
  });
  endpoint.on('ping', () => handlers.ping?.());
  endpoint.on('close', () => handlers.close(undefined));
  return wire;
}
