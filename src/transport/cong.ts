// The CongSocket listener on node:net (TLS on node:tls): length-prefixed frames over TCP (docs/protocol.md §1.2). Each
// accepted socket's frames go to its connection; the way back is its link (cong-link.ts). TCP_NODELAY is on (the
// reference leaves Nagle on and adds ~40 ms).
import net from 'node:net';
import tls from 'node:tls';
import type { Stats } from '../metrics/stats.js';
import { CongDecoder } from '../protocol/congsocket.js';
import type { AcceptLink, Doorkeeper, PeerInfo } from './link.js';
import { CongLink, FlushQueue } from './cong-link.js';
import { backlogLimits, type ListenOptions } from './listen-options.js';
import { endFailedHandshakes, tlsServerOptions } from './tls-options.js';
import { listenNet, reportAcceptErrors } from './listen-host.js';
import { AcceptedSockets, tlsBehindAccept } from './opening.js';
import type { OpeningSlot } from '../guard/admission.js';
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
export function listenCong(options: ListenOptions, stats: Stats, accept: AcceptLink, door: Doorkeeper): Promise<CongTransport> {
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
        error: (kind, detail) => {
          // Connection code: an exception costs this connection only.
          try {
            stats.framingErrors++;
            if (kind === 'too-large') {
              conn.close(`frame of ${detail} bytes is over the ${options.maxMessageSize}-byte limit`, 'abort');
            } else if (!conn.cid) {
              // Garbage before the connection has a CID is treated as an attack (§1.2 rule 4).
              conn.close(`unknown frame type 0x${detail.toString(16)} before CID_REQ`, 'attack', Uint8Array.of(detail));
            } else {
              conn.report(`unknown frame type 0x${detail.toString(16)}; buffered bytes dropped`);
            }
          } catch (err) {
            conn.internalError('a framing error', err);
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
