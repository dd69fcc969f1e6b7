// Mutual TLS in front of the WebSocket listener. uWS.js 20.30 verifies a client certificate when one is
// sent but cannot require one, so with a CA configured node:tls terminates TLS (refusing peers without
// a certificate signed by that CA) and forwards the clear stream to an internal loopback uWS listener.
// The peer's address and the device id its certificate names travel in one header, authenticated by a
// per-process secret.
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { Counters } from '../metrics/counters.js';
import { listenNet } from './listen-host.js';
import { certificateDeviceId } from '../connection/identity.js';

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

export function startTlsFront(
  secure: tls.TlsOptions,
  host: string,
  port: number,
  innerPort: number,
  counters: Counters,
  log: (line: string) => void,
): Promise<TlsFront> {
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ ...secure, requestCert: true, rejectUnauthorized: true }, (clear) => {
    sockets.add(clear);
    clear.setNoDelay(true);
    const peerIp = clear.remoteAddress ?? '';
    const certId = certificateDeviceId(clear.getPeerCertificate());
    const upstream = net.connect(innerPort, '127.0.0.1');
    upstream.setNoDelay(true);
    sockets.add(upstream);
    let head: Buffer | null = Buffer.alloc(0);
    const onHead = (chunk: Buffer): void => {
      head = Buffer.concat([head!, chunk]);
      const end = head.indexOf(HEAD_END);
      if (end < 0) {
        if (head.length > HEAD_LIMIT) clear.destroy();
        return;
      }
      clear.off('data', onHead);
      upstream.write(withPeerHeader(head, peerIp, certId));
      head = null;
      clear.pipe(upstream);
    };
    clear.on('data', onHead);
    upstream.pipe(clear);
    const teardown = (): void => {
      sockets.delete(clear);
      sockets.delete(upstream);
      clear.destroy();
      upstream.destroy();
    };
    clear.on('close', teardown).on('error', teardown);
    upstream.on('close', teardown).on('error', teardown);
  });
  server.on('tlsClientError', () => {
    counters.tlsRefused++;
  });
  return listenNet(server, port, host, 'WebSocket (TLS)', log).then((bound) => ({
    port: bound,
    close: () =>
      new Promise((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  }));
}
