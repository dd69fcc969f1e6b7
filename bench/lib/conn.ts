// Protocol client connections used by the load generators, over the tests' socket layer (test/kit/wire.ts):
//  * cong   — CongSocket framing (§1.2) over node:net
//  * ws     — a hand-written RFC 6455 client (wsClient 'raw', the default): cheap per message, so the
//             generator does not cap the measurement
//  * wslib  — the `ws` package (heavier per message; use --ws-client wslib)
import { type Wire, openWire } from '../../test/kit/wire.js';
import { B0_SERVER_TIME_NONCE, C0_SERVER_READY, C1_CID_REQ, C2_CID_RES } from './proto.js';

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

/** A Conn on a wire; keepalive probes (ws ping frames, cong PING) are answered by the wire. */
class WireConn implements Conn {
  readonly early: Buffer[] = [];
  onmsg: (m: Buffer) => void = (m) => {
    this.early.push(m);
  };
  onclose: () => void = noop;
  wire: Wire | null = null;
  get closed(): boolean {
    return this.wire?.closed ?? false;
  }
  send(msg: Uint8Array): void {
    this.wire?.send(msg);
  }
  sendMany(msgs: Uint8Array[]): void {
    this.wire?.sendMany(msgs);
  }
  close(): void {
    this.wire?.destroy();
  }
}

async function openConn(transport: Transport, port: number, wsClient: WsClientKind, timeoutMs: number): Promise<Conn> {
  const conn = new WireConn();
  conn.wire = await openWire(
    transport,
    port,
    { message: (m) => conn.onmsg(m), close: () => conn.onclose() },
    { autoPong: true, wsClient, connectTimeoutMs: timeoutMs },
  );
  return conn;
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
  const conn = await openConn(o.transport, o.port, o.wsClient ?? 'raw', timeoutMs);

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
