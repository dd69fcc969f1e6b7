// CongSocket transport on node:net: length-prefixed frames over TCP (PROTOCOL.md §1.2).
// TCP_NODELAY is on (the reference leaves Nagle on and adds ~40 ms); writes are batched per event-loop turn.
import net from 'node:net';
import tls from 'node:tls';
import type { ServerOptions } from '../options.js';
import type { Counters } from '../metrics/counters.js';
import type { Connection } from '../connection/connection.js';
import { CongDecoder, encodeFrame } from '../protocol/congsocket.js';
import { PING_MSG, PONG_MSG } from '../protocol/messages.js';
import type { Link, Outbound } from './link.js';
import type { AcceptLink } from './ws.js';
import { tlsServerOptions } from './tls-options.js';
import { listenNet } from './listen-host.js';
import { certificateNames } from '../connection/identity.js';

/** Frames this large on average are written one by one (under cork) instead of being copied together. */
const LARGE_CHUNK = 16 * 1024;

/** Links with pending writes, flushed together once per event-loop turn. */
const dirty: CongLink[] = [];
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

class CongLink implements Link {
  get transport(): 'cong' {
    return 'cong';
  }
  conn: Connection | null = null;
  closed = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes the socket still held at the last flush; only ever too high, never too low, until re-read. */
  private backlog = 0;
  private ending = false;

  constructor(
    readonly socket: net.Socket,
    private readonly counters: Counters,
    private readonly options: ServerOptions,
  ) {}

  send(msg: Uint8Array): boolean {
    return this.queue(encodeFrame(msg));
  }

  sendShared(out: Outbound): boolean {
    return this.queue(out.frame);
  }

  private queue(frame: Buffer): boolean {
    if (this.closed || this.ending) return false;
    // The socket's backlog is read again only when the cached figure says we might be over the limit.
    if (
      this.backlog + this.pendingBytes + frame.length > this.options.maxBackpressure &&
      (this.backlog = this.socket.writableLength) + this.pendingBytes + frame.length > this.options.maxBackpressure
    ) {
      if (this.options.slowConsumer === 'close') {
        this.counters.slowConsumerCloses++;
        this.conn?.destroy('slow consumer: send buffer over the backpressure limit');
      } else {
        this.counters.drops++;
      }
      return false;
    }
    if (this.pending.length === 0) {
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
    this.pending.push(frame);
    this.pendingBytes += frame.length;
    return true;
  }

  flush(): void {
    const chunks = this.pending;
    if (chunks.length === 0 || this.socket.destroyed) return;
    const total = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    if (chunks.length === 1) {
      this.socket.write(chunks[0]!);
    } else if (total / chunks.length < LARGE_CHUNK) {
      // Many small frames: one copy is far cheaper than one stream write per frame.
      this.socket.write(Buffer.concat(chunks, total));
    } else {
      this.socket.cork();
      for (const chunk of chunks) this.socket.write(chunk);
      this.socket.uncork();
    }
    this.backlog = this.socket.writableLength;
  }

  probe(): void {
    this.send(PING_MSG);
  }

  answerPing(): void {
    this.send(PONG_MSG);
  }

  close(_reason: string): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.flush();
    this.socket.end();
    // A peer that never finishes its side must not keep the socket forever.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(_reason: string): void {
    if (this.closed) return;
    this.pending = [];
    this.pendingBytes = 0;
    this.socket.destroy();
  }

  joinTopic(): boolean {
    return false;
  }

  leaveTopic(): void {}

  buffered(): number {
    return this.socket.writableLength + this.pendingBytes;
  }
}

export interface CongTransport {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the CongSocket listener (TLS when configured); resolves with the bound port. */
export function listenCong(options: ServerOptions, counters: Counters, accept: AcceptLink): Promise<CongTransport> {
  const secure = tlsServerOptions(options);
  const onSocket = (socket: net.Socket): void => {
    socket.setNoDelay(true);
    counters.acceptedCong++;
    const peerAddress = socket.remoteAddress ?? '';
    const link = new CongLink(socket, counters, options);
    // Under mutual TLS the certificate was verified against the CA; its names may identify a stored device.
    const certNames = secure !== null && socket instanceof tls.TLSSocket && socket.authorized ? certificateNames(socket.getPeerCertificate()) : [];
    const conn = accept(link, {
      peerIp: peerAddress,
      tls: secure !== null,
      ...(certNames.length > 0 ? { identity: { kind: 'certificate', names: certNames } } : {}),
    });
    link.conn = conn;
    const decoder = new CongDecoder(
      {
        frame: (payload) => conn.receive(payload),
        error: (kind, detail) => {
          counters.framingErrors++;
          if (kind === 'too-large') {
            conn.destroy(`frame of ${detail} bytes is over the ${options.maxMessageSize}-byte limit`);
          } else if (!conn.cid) {
            // Garbage before the connection has a CID is treated as an attack (§1.2 rule 4).
            conn.repel(`unknown frame type 0x${detail.toString(16)} before CID_REQ`, Uint8Array.of(detail));
          } else {
            conn.report(`unknown frame type 0x${detail.toString(16)}; buffered bytes dropped`);
          }
        },
      },
      options.maxMessageSize,
    );
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', () => {
      /* reset by peer and the like: 'close' follows */
    });
    socket.on('close', () => {
      decoder.stop();
      link.closed = true;
      conn.onLinkClosed();
    });
  };
  const server = secure
    ? tls.createServer(secure).on('secureConnection', onSocket)
    : net.createServer({ noDelay: true }, onSocket);
  // Failed TLS handshakes (e.g. no client certificate under mutual TLS) never become connections.
  server.on('tlsClientError', () => {
    counters.tlsRefused++;
  });
  server.on('error', () => {
    /* listen errors are reported through the promise below */
  });

  const close = (): Promise<void> =>
    new Promise((resolve) => {
      // Connections are destroyed by their owner (the server); this waits until they are gone.
      server.close(() => resolve());
    });

  return listenNet(server, options.congPort ?? 0, options.host, 'CongSocket', options.log).then((port) => ({ port, close }));
}
