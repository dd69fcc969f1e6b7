// Mutual TLS in front of the WebSocket listener. uWS.js 20.30 verifies a client certificate when one is
// sent but cannot require one, so with a CA configured node:tls terminates TLS (refusing peers without
// a certificate signed by that CA) and forwards the clear stream to an internal loopback uWS listener.
// The peer's address and the device id its certificate names travel in one header, authenticated by a
// per-process secret.
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { Stats } from '../metrics/stats.js';
import type { ListenOptions } from './listen-options.js';
import { listenNet, reportAcceptErrors } from './listen-host.js';
import { certificateDeviceId } from '../guard/identity.js';
import type { AdmitSocket } from './link.js';
import { AcceptedSockets, tlsBehindAccept } from './opening.js';
import { endFailedHandshakes } from './tls-options.js';

export const PEER_HEADER = 'x-iosig-tls-peer';
const HEAD_LIMIT = 16 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

export interface TlsFront {
  readonly port: number;
  close(): Promise<void>;
}

/** The secret that the internal listener expects in PEER_HEADER. */
export const frontSecret = randomBytes(18).toString('base64url');

export interface FrontedPeer {
  ip: string;
  /** The device id the verified client certificate names (identity.ts), or null. */
  certId: string | null;
}

/** `secret peerIp [id]` → the peer when the secret matches, else null. */
export function peerFromFront(header: string): FrontedPeer | null {
  const [secret, ip, id] = header.split(' ');
  if (secret !== frontSecret || ip === undefined) return null;
  return { ip, certId: id ? decodeURIComponent(id) : null };
}

/** Inserts the peer header after the request line of the first HTTP request head. */
function withPeerHeader(head: Buffer, peerIp: string, certId: string | null): Buffer {
  const lineEnd = head.indexOf('\r\n');
  const id = certId === null ? '' : ` ${encodeURIComponent(certId)}`;
  const header = Buffer.from(`\r\n${PEER_HEADER}: ${frontSecret} ${peerIp}${id}`);
  return Buffer.concat([head.subarray(0, lineEnd), header, head.subarray(lineEnd)]);
}

/**
 * Serves mutual TLS on `port` and forwards each verified peer to the internal uWS listener on `innerPort`. Every
 * socket is counted from its accept (`admitSocket`, refused at once over a cap) until it closes, so the
 * internal listener does not count it again; it must finish its handshake within `handshakeTimeout` and send
 * its request head within `openingTimeout`, and only then is the internal connection opened.
 */
export function startTlsFront(
  secure: tls.TlsOptions,
  options: Pick<ListenOptions, 'host' | 'port' | 'openingTimeout' | 'log'>,
  innerPort: number,
  stats: Stats,
  admitSocket: AdmitSocket,
): Promise<TlsFront> {
  const accepted = new AcceptedSockets(admitSocket, options.openingTimeout, stats, options.log, 'request head', true);
  const sockets = new Set<net.Socket>();
  const tlsServer = tls.createServer({ ...secure, requestCert: true, rejectUnauthorized: true }, (clear) => {
    const place = accepted.placeOf(clear);
    if (place === null) {
      clear.destroy();
      return;
    }
    sockets.add(clear);
    clear.setNoDelay(true);
    const peerIp = clear.remoteAddress ?? '';
    const certId = certificateDeviceId(clear.getPeerCertificate());
    let upstream: net.Socket | null = null;
    const teardown = (): void => {
      sockets.delete(clear);
      clear.destroy();
      if (upstream) {
        sockets.delete(upstream);
        upstream.destroy();
      }
    };
    clear.on('close', teardown).on('error', teardown);
    place.awaitFirst({ expireOpening: teardown });
    let head: Buffer = Buffer.alloc(0);
    const onHead = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf(HEAD_END);
      if (end < 0) {
        if (head.length > HEAD_LIMIT) teardown();
        return;
      }
      clear.off('data', onHead);
      place.opened();
      // The internal connection exists only once the request is in: a silent peer costs one descriptor, not three.
      const inner = net.connect(innerPort, '127.0.0.1');
      upstream = inner;
      sockets.add(inner);
      inner.setNoDelay(true);
      inner.on('close', teardown).on('error', teardown);
      inner.write(withPeerHeader(head, peerIp, certId));
      clear.pipe(inner);
      inner.pipe(clear);
    };
    clear.on('data', onHead);
  });
  endFailedHandshakes(tlsServer, stats);
  // Counted (or refused) at the accept, before any TLS state.
  const server = tlsBehindAccept(accepted, tlsServer);
  reportAcceptErrors(server, 'WebSocket (TLS)', options.log);
  return listenNet(server, options.port ?? 0, options.host, 'WebSocket (TLS)', options.log).then((bound) => ({
    port: bound,
    close: () =>
      new Promise((done) => {
        for (const socket of sockets) socket.destroy();
        accepted.destroyAll();
        server.close(() => done());
      }),
  }));
}
