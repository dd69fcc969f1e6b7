// The CongSocket listener on node:net (TLS on node:tls): length-prefixed frames over TCP (docs/protocol.md §1.2). Each
// accepted socket's frames go to its connection; the way back is its link (cong-link.ts). TCP_NODELAY is on (the
// reference leaves Nagle on and adds ~40 ms).
import type net from 'node:net';
import tls from 'node:tls';
import type { Stats } from '../metrics/stats.js';
import { CongDecoder, type BodyBudget, type FrameErrorKind, type FrameSink } from '../protocol/congsocket.js';
import { PartialFrames } from './partial-frames.js';
import type { AcceptLink, Doorkeeper, LinkOwner, PeerInfo } from './link.js';
import { CongLink, FlushQueue } from './cong-link.js';
import { backlogLimits, type ListenOptions } from './listen-options.js';
import { tlsServerOptions } from './tls-options.js';
import { listenNet } from './listen-host.js';
import { AcceptedSockets, type AcceptedSocket, type OpeningTarget } from './opening.js';
import { admitSocket, closeStreamServer, streamServer } from './stream-listener.js';
import { certificateDeviceId } from '../guard/identity.js';

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
/** What a CongSocket reader needs of its listener (one object for all its sockets). */
interface ReaderContext {
  readonly stats: Stats;
  readonly maxMessageSize: number;
  readonly openingTimeout: number;
  /** Large frames still arriving, counted for the whole listener (partial-frames.ts). */
  readonly partial: PartialFrames;
}

/**
 * One socket's frames to its connection, and the end of its opening at the first frame: the decoder's sink and
 * the deadline's target in one small object (every accepted socket has one, so no closures per socket here).
 */
class CongReader implements FrameSink, OpeningTarget, BodyBudget {
  constructor(
    private readonly conn: LinkOwner,
    private readonly context: ReaderContext,
    /** Until the first frame: the opening's deadline runs. */
    private opening: AcceptedSocket | null,
    /** The client address its large frames are counted under. */
    private readonly ip: string,
  ) {}

  take(bytes: number): boolean {
    const { partial } = this.context;
    return partial.take(partial.keyOf(this.ip), bytes);
  }

  give(bytes: number): void {
    const { partial } = this.context;
    partial.give(partial.keyOf(this.ip), bytes);
  }

  frame(payload: Buffer): void {
    if (this.opening !== null) {
      this.opening.opened();
      this.opening = null;
    }
    this.conn.receive(payload);
  }

  error(kind: FrameErrorKind, detail: number): void {
    const { conn, context } = this;
    // Connection code: an exception costs this connection only.
    try {
      context.stats.framingErrors++;
      if (kind === 'too-large') {
        conn.close(`frame of ${detail} bytes is over the ${context.maxMessageSize}-byte limit`, 'abort');
      } else if (kind === 'budget') {
        const { partial } = context;
        conn.close(`a ${detail}-byte frame would pass what large frames still arriving may hold (${partial.perAddress} bytes per address, ${partial.total} in all)`, 'abort');
      } else if (!conn.cid) {
        // Garbage before the connection has a CID is treated as an attack (§1.2 rule 4).
        conn.close(`unknown frame type 0x${detail.toString(16)} before CID_REQ`, 'attack', Uint8Array.of(detail));
      } else {
        conn.report(`unknown frame type 0x${detail.toString(16)}; buffered bytes dropped`);
      }
    } catch (err) {
      conn.internalError('a framing error', err);
    }
  }

  expireOpening(): void {
    this.conn.close(`no frame within ${this.context.openingTimeout} ms of connecting`, 'silent');
  }
}

const ignoreError = (): void => {
  /* reset by peer and the like: 'close' follows */
};

/**
 * Starts the CongSocket listener (TLS when configured); resolves with the bound port. Every socket is counted
 * from its accept (`door.admitSocket`): over a cap it is closed at once, before any TLS handshake or connection
 * state; otherwise it must finish its TLS handshake within `handshakeTimeout` and send its first frame within
 * `openingTimeout` (clients send AUTH_REQ or CID_REQ as soon as they are greeted), or it is closed. Under
 * --workers it also takes a place in the host's caps (`door.admit`) before it becomes a connection.
 */
export function listenCong(options: ListenOptions, stats: Stats, accept: AcceptLink, door: Doorkeeper): Promise<CongTransport> {
  const secure = tlsServerOptions(options);
  const flushQueue = new FlushQueue();
  const limits = backlogLimits(options, 'cong');
  const context: ReaderContext = {
    stats,
    maxMessageSize: options.maxMessageSize,
    openingTimeout: options.openingTimeout,
    partial: PartialFrames.of(stats, options.maxInboundTotal, options.maxMessageSize),
  };
  const sockets = new AcceptedSockets(door.admitSocket, options.openingTimeout, stats, options.log, 'frame', secure !== null);
  /** A socket counted here since its accept (`accepted`, its place given back when it closes): the host's place, then the connection. */
  const onSocket = (socket: net.Socket, accepted: AcceptedSocket): void => {
    const peer: PeerInfo = { peerIp: socket.remoteAddress ?? '', tls: secure !== null, counted: true, listener: 'cong' };
    admitSocket(door, socket, peer, () => takeOn(socket, accepted, peer));
  };
  const takeOn = (socket: net.Socket, accepted: AcceptedSocket, peer: PeerInfo): void => {
    socket.setNoDelay(true);
    stats.acceptedCong++;
    const link = new CongLink(socket, limits, flushQueue);
    // Under mutual TLS the certificate was verified against the CA; the id it names may be a stored device.
    const certId = secure !== null && socket instanceof tls.TLSSocket && socket.authorized ? certificateDeviceId(socket.getPeerCertificate()) : null;
    const conn = accept(link, certId !== null ? { ...peer, identity: { kind: 'certificate', id: certId } } : peer);
    link.conn = conn;
    const reader = new CongReader(conn, context, accepted, peer.peerIp);
    accepted.awaitFirst(reader);
    const decoder = new CongDecoder(reader, options.maxMessageSize, reader);
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', ignoreError);
    socket.on('close', () => {
      decoder.stop();
      link.closed = true;
      conn.linkClosed();
    });
  };
  const server = streamServer(secure, sockets, stats, 'CongSocket', options.log, onSocket);
  const close = (): Promise<void> => closeStreamServer(server, sockets);

  return listenNet(server, options.congPort ?? 0, options.host, 'CongSocket', options.log).then((port) => ({ port, close }));
}
