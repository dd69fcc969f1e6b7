// CongSocket transport on node:net: length-prefixed frames over TCP (PROTOCOL.md §1.2).
// TCP_NODELAY is on (the reference leaves Nagle on and adds ~40 ms); writes are batched per event-loop turn.
import net from 'node:net';
import tls from 'node:tls';
import { backlogLimits, type BacklogLimits, type ServerOptions } from '../options.js';
import type { Counters } from '../metrics/counters.js';
import { CongDecoder, encodeFrame } from '../protocol/congsocket.js';
import { PING_MSG, PONG_MSG } from '../protocol/messages.js';
import { OPEN_DOOR, type AcceptLink, type Doorkeeper, type Link, type LinkOwner, type PeerInfo } from './link.js';
import type { Outbound } from '../delivery/outbound.js';
import { tlsServerOptions } from './tls-options.js';
import { listenNet } from './listen-host.js';
import { certificateDeviceId } from '../connection/identity.js';
import { runContained } from '../connection/contain.js';

/** Frames this large on average are written one by one (under cork) instead of being copied together. */
const LARGE_CHUNK = 16 * 1024;
/**
 * Pending bytes that are handed to the socket at once rather than at the end of the turn: a burst fanned out in
 * one turn reaches the kernel as it goes, so the backlog judged by hasRoom is what the reader has not read, not
 * what this turn produced.
 */
const EAGER_FLUSH_BYTES = 64 * 1024;

/** Links with pending writes, flushed together once per event-loop turn. One per listener (per server). */
class FlushQueue {
  private readonly dirty: CongLink[] = [];
  private scheduled = false;
  private readonly flushAll = (): void => {
    this.scheduled = false;
    const dirty = this.dirty;
    for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
    dirty.length = 0;
  };

  add(link: CongLink): void {
    this.dirty.push(link);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }
}

class CongLink implements Link {
  get transport(): 'cong' {
    return 'cong';
  }
  conn: LinkOwner | null = null;
  closed = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes the socket still held at the last flush; only ever too high, never too low, until re-read. */
  private backlog = 0;
  private ending = false;
  /** The slow-consumer policy applies to it: no room until it drains below half the soft limit. */
  private saturated = false;

  constructor(
    readonly socket: net.Socket,
    readonly limits: BacklogLimits,
    private readonly flushQueue: FlushQueue,
  ) {}

  send(msg: Uint8Array): boolean {
    return this.queue(encodeFrame(msg));
  }

  sendShared(out: Outbound): boolean {
    return this.queue(out.frame);
  }

  /**
   * Judged on what the reader has not taken (the socket's backlog plus this turn's few pending bytes): within the
   * hard cap, one more message of any size up to maxMessageSize is accepted, so a receiver holds at most the cap +
   * one message, and an idle receiver always gets a big message. Past the soft limit it is behind (timed by the
   * slow-consumer watch). The backlog is read again only when the cached figure says it might be over the soft limit.
   */
  hasRoom(_bytes: number): boolean {
    const { soft, hard } = this.limits;
    if (this.backlog + this.pendingBytes <= soft && !this.saturated) return true;
    const held = (this.backlog = this.socket.writableLength) + this.pendingBytes;
    if (this.saturated) {
      if (held > soft / 2) return false;
      this.saturated = false;
    }
    if (held <= soft) return true;
    if (held > hard) {
      this.conn?.overCap();
      return false;
    }
    this.conn?.fellBehind();
    return true;
  }

  buffered(): number {
    return this.socket.writableLength + this.pendingBytes;
  }

  /** A stream has no shared path to leave: it only stops taking deliveries until it drains. */
  saturate(): boolean {
    if (this.saturated || this.closed) return false;
    this.saturated = true;
    return true;
  }

  topics(): null {
    return null;
  }

  private queue(frame: Buffer): boolean {
    if (this.closed || this.ending) return false;
    if (this.pending.length === 0) this.flushQueue.add(this);
    this.pending.push(frame);
    this.pendingBytes += frame.length;
    if (this.pendingBytes >= EAGER_FLUSH_BYTES) this.flush();
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

}

export interface CongTransport {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the CongSocket listener (TLS when configured); resolves with the bound port. */
export function listenCong(
  options: ServerOptions,
  counters: Counters,
  accept: AcceptLink,
  door: Doorkeeper = OPEN_DOOR,
): Promise<CongTransport> {
  const secure = tlsServerOptions(options);
  const flushQueue = new FlushQueue();
  const limits = backlogLimits(options, 'cong');
  const peerOf = (socket: net.Socket): PeerInfo => ({ peerIp: socket.remoteAddress ?? '', tls: secure !== null });
  /** Over a connection cap: dropped at once, before any TLS handshake or connection state. */
  const refuse = (socket: net.Socket): void => {
    socket.on('error', () => undefined);
    socket.destroy();
  };
  const onSocket = (socket: net.Socket): void => {
    const peer = peerOf(socket);
    const admitted = door.admit(peer);
    if (admitted === true) return takeOn(socket, peer.peerIp);
    if (admitted === false) return refuse(socket);
    // --workers: the primary answers for the host's caps. Unread bytes wait in the socket meanwhile (no 'data'
    // listener yet); a socket that went away gives its granted place back.
    socket.on('error', () => undefined);
    void admitted.then((ok) => {
      if (!ok) refuse(socket);
      else if (socket.destroyed) door.unused(peer);
      else takeOn(socket, peer.peerIp);
    });
  };
  const takeOn = (socket: net.Socket, peerAddress: string): void => {
    socket.setNoDelay(true);
    counters.acceptedCong++;
    const link = new CongLink(socket, limits, flushQueue);
    // Under mutual TLS the certificate was verified against the CA; the id it names may be a stored device.
    const certId = secure !== null && socket instanceof tls.TLSSocket && socket.authorized ? certificateDeviceId(socket.getPeerCertificate()) : null;
    const conn = accept(link, {
      peerIp: peerAddress,
      tls: secure !== null,
      ...(certId !== null ? { identity: { kind: 'certificate', id: certId } } : {}),
    });
    link.conn = conn;
    const decoder = new CongDecoder(
      {
        frame: (payload) => conn.receive(payload),
        error: (kind, detail) => runContained(conn, 'a framing error', () => {
          counters.framingErrors++;
          if (kind === 'too-large') {
            conn.close(`frame of ${detail} bytes is over the ${options.maxMessageSize}-byte limit`, 'abort');
          } else if (!conn.cid) {
            // Garbage before the connection has a CID is treated as an attack (§1.2 rule 4).
            conn.close(`unknown frame type 0x${detail.toString(16)} before CID_REQ`, 'attack', Uint8Array.of(detail));
          } else {
            conn.report(`unknown frame type 0x${detail.toString(16)}; buffered bytes dropped`);
          }
        }),
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
      conn.linkClosed();
    });
  };
  const server = secure
    ? tls.createServer(secure).on('secureConnection', onSocket)
    : net.createServer({ noDelay: true }, onSocket);
  // TLS: checked on the raw socket too, so a flood never costs handshakes.
  if (secure) server.on('connection', (socket: net.Socket) => void (door.checkHere(peerOf(socket)) || refuse(socket)));
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
