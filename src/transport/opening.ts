// Sockets between their accept and the end of their opening (issue 16 item 4): a TLS handshake (node:tls closes
// it at `handshakeTimeout`, see endFailedHandshakes), then the first CongSocket message or the upgrade request
// through the mutual-TLS front (`openingTimeout`). Each socket holds its place in the caps from its accept
// (Admission.enter) until it closes; one that misses its deadline is closed, counted, and logged once a second
// at most, so a flood of silent sockets can neither keep descriptors nor fill the log.
import net from 'node:net';
import type tls from 'node:tls';
import type { OpeningSlot } from '../guard/admission.js';
import type { Stats } from '../metrics/stats.js';
import { ThrottledLog } from '../logging/throttled-log.js';
import type { AdmitSocket } from './link.js';

const ignore = (): void => undefined;

/**
 * The socket's whole TCP 4-tuple, the same for a TLS socket and the TCP socket under it. The peer alone is not
 * unique: one client address and port may connect to two addresses of the server (both loopback addresses, a public
 * and a private one), and the second entry would hide the first, letting one of them out of the opening budgets.
 */
function peerKey(socket: net.Socket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? ''}|${socket.localAddress ?? ''}|${socket.localPort ?? ''}`;
}

/** The accepted sockets of one listener, each with its place in the caps until it closes. */
export class AcceptedSockets {
  /** By TCP 4-tuple (peerKey): a TLS socket is found again through the TCP socket it wraps. */
  private readonly byPeer = new Map<string, { socket: net.Socket; slot: OpeningSlot }>();
  private readonly timeoutLog: ThrottledLog;

  constructor(
    private readonly admit: AdmitSocket,
    private readonly openingTimeout: number,
    private readonly stats: Stats,
    log: (line: string) => void,
  ) {
    this.timeoutLog = new ThrottledLog(log);
  }

  /** At accept: the socket's place in the caps (given back when it closes), or null after closing it (over a cap). */
  take(socket: net.Socket): OpeningSlot | null {
    const slot = this.admit(socket.remoteAddress ?? '', () => socket.destroy());
    if (slot === null) {
      socket.on('error', ignore);
      socket.destroy();
      return null;
    }
    const key = peerKey(socket);
    this.byPeer.set(key, { socket, slot });
    socket.once('close', () => {
      this.byPeer.delete(key);
      slot.release();
    });
    return slot;
  }

  /** The place of the accepted socket that `socket` (a TLS socket over it, same peer) came through. */
  slotOf(socket: net.Socket): OpeningSlot | null {
    return this.byPeer.get(peerKey(socket))?.slot ?? null;
  }

  /**
   * Starts the opening's last deadline: unless the returned function is called within openingTimeout (it marks
   * the opening done), `expire` ends the socket. `what` names what did not come, for the log.
   */
  awaitFirst(socket: net.Socket, slot: OpeningSlot, what: string, expire: () => void): () => void {
    const ms = this.openingTimeout;
    const timer = setTimeout(() => {
      this.stats.openingTimeouts++;
      this.timeoutLog.write(`closed a socket from ${socket.remoteAddress ?? '?'} that sent no ${what} within ${ms} ms`);
      expire();
    }, ms);
    socket.once('close', () => clearTimeout(timer));
    return () => {
      clearTimeout(timer);
      slot.opened();
    };
  }

  /** Ends every socket still here (the listener is closing). */
  destroyAll(): void {
    for (const { socket } of this.byPeer.values()) socket.destroy();
  }
}

/**
 * The TCP listener of a TLS port: each socket is taken on (or refused) as it is accepted, and only one that is
 * taken on goes to `tlsServer` for its handshake (a tls.Server takes injected sockets through its 'connection'
 * event), so a flood of refused sockets costs an accept and a close each, never TLS state.
 */
export function tlsBehindAccept(sockets: AcceptedSockets, tlsServer: tls.Server): net.Server {
  return net.createServer({ noDelay: true }, (raw) => {
    if (sockets.take(raw) !== null) tlsServer.emit('connection', raw);
  });
}
