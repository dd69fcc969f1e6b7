// What the byte-stream listeners on node:net (CongSocket, MQTT) share: the accept with its place in the caps, TLS
// behind the accept, the host's place under --workers, and the close.
import net from 'node:net';
import tls from 'node:tls';
import type { Stats } from '../metrics/stats.js';
import type { Doorkeeper, PeerInfo } from './link.js';
import { endFailedHandshakes } from './tls-options.js';
import { reportAcceptErrors } from './listen-host.js';
import { type AcceptedSocket, type AcceptedSockets, tlsBehindAccept } from './opening.js';

/**
 * A listening server whose sockets are counted from their accept (`sockets`) and, under TLS, handshaken behind
 * it; `onSocket` gets each socket once it is ready (after its handshake) with its place in the caps.
 */
export function streamServer(secure: tls.TlsOptions | null, sockets: AcceptedSockets, stats: Stats, what: string, log: (line: string) => void, onSocket: (socket: net.Socket, accepted: AcceptedSocket) => void): net.Server {
  let server: net.Server;
  if (secure) {
    const tlsServer = tls.createServer(secure);
    tlsServer.on('secureConnection', (socket: tls.TLSSocket) => {
      const accepted = sockets.placeOf(socket);
      if (accepted === null) socket.destroy();
      else onSocket(socket, accepted);
    });
    // Failed or timed-out handshakes (e.g. no client certificate under mutual TLS) never become connections.
    endFailedHandshakes(tlsServer, stats);
    // Counted (or refused) at the accept, before any TLS state: a flood never costs handshakes.
    server = tlsBehindAccept(sockets, tlsServer);
  } else {
    server = net.createServer({ noDelay: true }, (socket) => {
      const accepted = sockets.take(socket);
      if (accepted !== null) onSocket(socket, accepted);
    });
  }
  reportAcceptErrors(server, what, log);
  return server;
}

/**
 * The door's answer for a socket about to become a connection: `takeOn` now, later (--workers: the primary
 * answers for the host's caps; unread bytes wait in the socket meanwhile, and a socket that went away gives its
 * granted place back), or never (destroyed).
 */
export function admitSocket(door: Doorkeeper, socket: net.Socket, peer: PeerInfo, takeOn: () => void): void {
  const admitted = door.admit(peer);
  if (admitted === true) return takeOn();
  if (admitted === false) return void socket.destroy();
  socket.on('error', () => undefined);
  void admitted.then((ok) => {
    if (!ok) socket.destroy();
    else if (socket.destroyed) door.unused(peer);
    else takeOn();
  });
}

/** Closes the listener: sockets still opening are ended here (connections are closed by their owner). */
export function closeStreamServer(server: net.Server, sockets: AcceptedSockets): Promise<void> {
  return new Promise((resolve) => {
    sockets.destroyAll();
    server.close(() => resolve());
  });
}
