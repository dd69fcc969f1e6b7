// Raw protocol client connections used by the load generators.
//
// Three kinds:
//  * cong   — node:net + CongSocket framing (§1.2)
//  * ws     — node:net + a hand-written RFC 6455 client (upgrade + frame parser).
//             Cheap per message, so the generator does not cap the measurement.
//  * wslib  — the `ws` package (heavier per message; use --ws-client wslib).
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import {
  B0_SERVER_TIME_NONCE, C0_SERVER_READY, C1_CID_REQ, C2_CID_RES, CD_PING, CE_PONG,
  CongParser, WsParser, congFrame, wsClientFrame,
} from './proto.js';

export type Transport = 'ws' | 'cong';
export type WsClientKind = 'raw' | 'wslib';

export interface Conn {
  /** Protocol message handler (one message at a time). Until one is set, messages queue in `early`. */
  onmsg: (m: Buffer) => void;
  readonly early: Buffer[];
  onclose: () => void;
  send(msg: Uint8Array): void;
  /** Sends several messages in one socket write where possible. */
  sendMany(msgs: Uint8Array[]): void;
  close(): void;
  readonly closed: boolean;
}

const noop = (): void => {};

class CongConn implements Conn {
  readonly early: Buffer[] = [];
  onmsg: (m: Buffer) => void = (m) => { this.early.push(m); };
  onclose: () => void = noop;
  closed = false;
  private parser = new CongParser();
  constructor(readonly sock: net.Socket) {
    sock.setNoDelay(true);
    const deliver = (m: Buffer): void => {
      if (m.length === 1 && m[0] === CD_PING) { this.send(Buffer.from([CE_PONG])); return; }
      this.onmsg(m);
    };
    sock.on('data', (chunk: Buffer) => {
      if (!this.parser.push(chunk, deliver)) sock.destroy();
    });
    sock.on('close', () => { this.closed = true; this.onclose(); });
    sock.on('error', noop);
  }
  send(msg: Uint8Array): void {
    if (!this.closed) this.sock.write(congFrame(msg));
  }
  sendMany(msgs: Uint8Array[]): void {
    if (this.closed) return;
    if (msgs.length === 1) { this.send(msgs[0]!); return; }
    this.sock.write(Buffer.concat(msgs.map((m) => congFrame(m))));
  }
  close(): void { this.sock.destroy(); }
}

class RawWsConn implements Conn {
  readonly early: Buffer[] = [];
  onmsg: (m: Buffer) => void = (m) => { this.early.push(m); };
  onclose: () => void = noop;
  closed = false;
  private parser = new WsParser();
  constructor(readonly sock: net.Socket, leftover: Buffer) {
    const ev = {
      message: (m: Buffer, binary: boolean): void => { if (binary) this.onmsg(m); },
      ping: (p: Buffer): void => { if (!this.closed) sock.write(wsClientFrame(p, 0xa)); },
      close: (): void => { sock.end(); },
    };
    sock.on('data', (chunk: Buffer) => {
      if (!this.parser.push(chunk, ev)) sock.destroy();
    });
    sock.on('close', () => { this.closed = true; this.onclose(); });
    if (leftover.length > 0) this.parser.push(leftover, ev);
  }
  send(msg: Uint8Array): void {
    if (!this.closed) this.sock.write(wsClientFrame(msg));
  }
  sendMany(msgs: Uint8Array[]): void {
    if (this.closed) return;
    if (msgs.length === 1) { this.send(msgs[0]!); return; }
    this.sock.write(Buffer.concat(msgs.map((m) => wsClientFrame(m))));
  }
  close(): void { this.sock.destroy(); }
}

class WsLibConn implements Conn {
  readonly early: Buffer[] = [];
  onmsg: (m: Buffer) => void = (m) => { this.early.push(m); };
  onclose: () => void = noop;
  closed = false;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => { if (isBinary) this.onmsg(data); });
    ws.on('close', () => { this.closed = true; this.onclose(); });
  }
  send(msg: Uint8Array): void {
    if (!this.closed) this.ws.send(msg, { binary: true });
  }
  sendMany(msgs: Uint8Array[]): void {
    for (const m of msgs) this.send(m);
  }
  close(): void { this.ws.terminate(); }
}

function tcpConnect(port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const t = setTimeout(() => { sock.destroy(); reject(new Error('connect timeout')); }, timeoutMs);
    sock.once('connect', () => { clearTimeout(t); sock.removeAllListeners('error'); sock.on('error', noop); resolve(sock); });
    sock.once('error', (e) => { clearTimeout(t); reject(e); });
  });
}

function rawWsConnect(port: number, timeoutMs: number): Promise<RawWsConn> {
  return tcpConnect(port, timeoutMs).then((sock) => new Promise<RawWsConn>((resolve, reject) => {
    sock.setNoDelay(true);
    const key = randomBytes(16).toString('base64');
    sock.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    let acc: Buffer = Buffer.alloc(0);
    const t = setTimeout(() => { cleanup(); sock.destroy(); reject(new Error('upgrade timeout')); }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      acc = acc.length === 0 ? chunk : Buffer.concat([acc, chunk]);
      const end = acc.indexOf('\r\n\r\n');
      if (end < 0) return;
      cleanup();
      const head = acc.subarray(0, end).toString('latin1');
      if (!/^HTTP\/1\.1 101/.test(head)) { sock.destroy(); reject(new Error('upgrade refused: ' + head.split('\r\n')[0])); return; }
      resolve(new RawWsConn(sock, acc.subarray(end + 4)));
    };
    const onClose = (): void => { cleanup(); reject(new Error('closed during upgrade')); };
    function cleanup(): void { clearTimeout(t); sock.off('data', onData); sock.off('close', onClose); }
    sock.on('data', onData);
    sock.on('close', onClose);
  }));
}

function wsLibConnect(port: number, timeoutMs: number): Promise<WsLibConn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    ws.binaryType = 'nodebuffer';
    const c = new WsLibConn(ws); // attach handlers before the first message can arrive
    ws.once('open', () => { ws.removeAllListeners('error'); ws.on('error', noop); resolve(c); });
    ws.once('error', (e) => reject(e));
  });
}

export interface ConnectOpts {
  transport: Transport;
  port: number;
  wsClient?: WsClientKind;
  /** Send CID_REQ after the opening sequence and wait for CID_RES. */
  cid?: boolean;
  /** Fail if SERVER_READY arrives without a SERVER_TIME_NONCE before it. */
  requireNonce?: boolean;
  timeoutMs?: number;
}

export interface ReadyConn {
  conn: Conn;
  cid: string;
}

/**
 * Connects, waits for SERVER_TIME_NONCE (13 bytes) and SERVER_READY, then
 * (optionally) does CID_REQ → CID_RES. Resolves with the connection ready for use.
 */
export async function connectReady(o: ConnectOpts): Promise<ReadyConn> {
  const timeoutMs = o.timeoutMs ?? 15000;
  let conn: Conn;
  if (o.transport === 'cong') conn = new CongConn(await tcpConnect(o.port, timeoutMs));
  else if ((o.wsClient ?? 'raw') === 'raw') conn = await rawWsConnect(o.port, timeoutMs);
  else conn = await wsLibConnect(o.port, timeoutMs);

  return new Promise<ReadyConn>((resolve, reject) => {
    let gotNonce = false;
    let gotReady = false;
    const t = setTimeout(() => { conn.close(); reject(new Error('opening sequence timeout')); }, timeoutMs);
    conn.onclose = (): void => { clearTimeout(t); reject(new Error('closed during opening sequence')); };
    const done = (cid: string): void => {
      clearTimeout(t);
      conn.onmsg = noop;
      conn.onclose = noop;
      resolve({ conn, cid });
    };
    conn.onmsg = (m: Buffer): void => {
      if (m[0] === B0_SERVER_TIME_NONCE && m.length === 13) gotNonce = true;
      else if (m[0] === C0_SERVER_READY && m.length === 1) {
        // The spec (§3.2) sends SERVER_TIME_NONCE first; iosignal 2.2.1 (the
        // published baseline) sends only SERVER_READY and a nonce on AUTH_REQ,
        // so SERVER_READY alone is accepted here. `requireNonce` makes it strict.
        gotReady = true;
        if (!gotNonce && o.requireNonce) { clearTimeout(t); conn.close(); reject(new Error('SERVER_READY before SERVER_TIME_NONCE')); return; }
        if (o.cid) conn.send(Buffer.from([C1_CID_REQ]));
        else done('');
      } else if (m[0] === C2_CID_RES && gotReady) {
        done(m.subarray(1).toString('utf8'));
      }
    };
    const early = conn.early.splice(0);
    for (const m of early) conn.onmsg(m);
  });
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<R>(items: number, limit: number, fn: (i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items);
  let next = 0;
  const runners: Promise<void>[] = [];
  for (let k = 0; k < Math.min(limit, items); k++) {
    runners.push((async () => {
      while (next < items) {
        const i = next++;
        out[i] = await fn(i);
      }
    })());
  }
  await Promise.all(runners);
  return out;
}
