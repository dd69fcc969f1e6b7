// node:tls settings from the configured certificate files; a CA turns on mutual TLS.
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import type tls from 'node:tls';
import type { Stats } from '../metrics/stats.js';
import type { TlsFiles } from '../policies.js';

export function tlsServerOptions(options: { readonly tls: TlsFiles | null; readonly handshakeTimeout: number }): tls.TlsOptions | null {
  const files = options.tls;
  if (!files) return null;
  const ca = files.ca ? readFileSync(files.ca) : undefined;
  return {
    cert: readFileSync(files.cert),
    key: readFileSync(files.key),
    passphrase: files.passphrase,
    ca,
    requestCert: ca !== undefined,
    rejectUnauthorized: ca !== undefined,
    handshakeTimeout: options.handshakeTimeout,
  };
}

/**
 * A handshake that failed or ran out of time ends its socket. node:tls only reports it ('tlsClientError', also
 * for `handshakeTimeout`) and leaves the socket open, so without this a peer that never finishes its handshake
 * would keep its descriptor for as long as it likes.
 */
export function endFailedHandshakes(server: tls.Server, stats: Stats): void {
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') stats.handshakeTimeouts++;
    else stats.tlsRefused++;
    socket.destroy();
  });
}
