// CongSocket transport on node:net: length-prefixed frames over TCP (PROTOCOL.md §1.2).
// TCP_NODELAY is on (the reference leaves Nagle on and adds ~40 ms); writes are batched per event-loop turn.
import net from 'node:net';
import tls from 'node:tls';
import { backlogLimits, type BacklogLimits, type ServerOptions } from '../options.js';
import type { Stats } from '../metrics/stats.js';
import { CongDecoder, encodeFrame } from '../protocol/congsocket.js';
import { PING_MSG, PONG_MSG } from '../protocol/messages.js';
import type { AcceptLink, Doorkeeper, Link, LinkOwner, PeerInfo } from './link.js';
import type { Outbound } from '../delivery/outbound.js';
import { endFailedHandshakes, tlsServerOptions } from './tls-options.js';
import { listenNet, reportAcceptErrors } from './listen-host.js';
import { AcceptedSockets, tlsBehindAccept } from './opening.js';
import type { OpeningSlot } from '../guard/admission.js';
import { certificateDeviceId } from '../guard/identity.js';
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

/**
 * Starts the CongSocket listener (TLS when configured); resolves with the bound port. Every socket is counted
 * from its accept (`door.admitSocket`): over a cap it is closed at once, before any TLS handshake or connection
 * state; otherwise it must finish its TLS handshake within `handshakeTimeout` and send its first frame within
 * `openingTimeout` (clients send AUTH_REQ or CID_REQ as soon as they are greeted), or it is closed. Under
 * --workers it also takes a place in the host's caps (`door.admit`) before it becomes a connection.
 */
export function listenCong(options: ServerOptions, stats: Stats, accept: AcceptLink, door: Doorkeeper): Promise<CongTransport> {
  const secure = tlsServerOptions(options);
  const flushQueue = new FlushQueue();
  const limits = backlogLimits(options, 'cong');
  const sockets = new AcceptedSockets(door.admitSocket, options.openingTimeout, stats, options.log);
  /** A socket counted here since its accept (`slot`, given back when it closes): the host's place, then the connection. */
  const onSocket = (socket: net.Socket, slot: OpeningSlot): void => {
    const peer: PeerInfo = { peerIp: socket.remoteAddress ?? '', tls: secure !== null, counted: true };
    const admitted = door.admit(peer);
    if (admitted === true) return takeOn(socket, slot, peer);
    if (admitted === false) return void socket.destroy();
    // --workers: the primary answers for the host's caps. Unread bytes wait in the socket meanwhile (no 'data'
    // listener yet); a socket that went away gives its granted place back.
    socket.on('error', () => undefined);
    void admitted.then((ok) => {
      if (!ok) socket.destroy();
      else if (socket.destroyed) door.unused(peer);
      else takeOn(socket, slot, peer);
    });
  };
  const takeOn = (socket: net.Socket, slot: OpeningSlot, peer: PeerInfo): void => {
    socket.setNoDelay(true);
    stats.acceptedCong++;
    const link = new CongLink(socket, limits, flushQueue);
    // Under mutual TLS the certificate was verified against the CA; the id it names may be a stored device.
    const certId = secure !== null && socket instanceof tls.TLSSocket && socket.authorized ? certificateDeviceId(socket.getPeerCertificate()) : null;
    const conn = accept(link, certId !== null ? { ...peer, identity: { kind: 'certificate', id: certId } } : peer);
    link.conn = conn;
    let opened: (() => void) | null = sockets.awaitFirst(socket, slot, 'frame', () =>
      conn.close(`no frame within ${options.openingTimeout} ms of connecting`, 'silent'),
    );
    const decoder = new CongDecoder(
      {
        frame: (payload) => {
          if (opened !== null) {
            opened();
            opened = null;
          }
          conn.receive(payload);
        },
        error: (kind, detail) => runContained(conn, 'a framing error', () => {
          stats.framingErrors++;
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
  let server: net.Server;
  if (secure) {
    const tlsServer = tls.createServer(secure);
    tlsServer.on('secureConnection', (socket: tls.TLSSocket) => {
      const slot = sockets.slotOf(socket);
      if (slot === null) socket.destroy();
      else onSocket(socket, slot);
    });
    // Failed or timed-out handshakes (e.g. no client certificate under mutual TLS) never become connections.
    endFailedHandshakes(tlsServer, stats);
    // Counted (or refused) at the accept, before any TLS state: a flood never costs handshakes.
    server = tlsBehindAccept(sockets, tlsServer);
  } else {
    server = net.createServer({ noDelay: true }, (socket) => {
      const slot = sockets.take(socket);
      if (slot !== null) onSocket(socket, slot);
    });
  }
  reportAcceptErrors(server, 'CongSocket', options.log);

  const close = (): Promise<void> =>
    new Promise((resolve) => {
      // Connections are destroyed by their owner (the server); sockets still in their handshake are ended here.
      sockets.destroyAll();
      server.close(() => resolve());
    });

  return listenNet(server, options.congPort ?? 0, options.host, 'CongSocket', options.log).then((port) => ({ port, close }));
}
