// node:tls settings from the configured certificate files; a CA turns on mutual TLS.
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import tls from 'node:tls';
import type { Stats } from '../metrics/stats.js';
import type { TlsFiles } from '../policies.js';

/** Which io-server flag names each file, so a start-up error says what to fix. */
const FLAG_OF = { cert: '--tls-cert', key: '--tls-key', ca: '--tls-ca' } as const;

function readTlsFile(path: string, which: keyof typeof FLAG_OF): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not readable (permission denied)' : (err as Error).message;
    throw new Error(`cannot start: ${FLAG_OF[which]} file ${path}: ${why}`);
  }
}

/**
 * Reads the certificate files and builds a TLS context from them once, before any listener: a missing file or
 * one that is not PEM is reported by name here rather than as uWS's bare "App construction failed".
 */
export function checkTlsFiles(files: TlsFiles | null): void {
  if (files === null) return;
  const cert = readTlsFile(files.cert, 'cert');
  const key = readTlsFile(files.key, 'key');
  const ca = files.ca ? readTlsFile(files.ca, 'ca') : undefined;
  try {
    tls.createSecureContext({ cert, key, ca, passphrase: files.passphrase });
  } catch (err) {
    const names = `${FLAG_OF.cert} ${files.cert}, ${FLAG_OF.key} ${files.key}${files.ca ? `, ${FLAG_OF.ca} ${files.ca}` : ''}`;
    throw new Error(`cannot start: the TLS files are not a usable certificate and key (${names}): ${(err as Error).message}`);
  }
}

export function tlsServerOptions(options: { readonly tls: TlsFiles | null; readonly handshakeTimeout: number }): tls.TlsOptions | null {
  const files = options.tls;
  if (!files) return null;
  const ca = files.ca ? readTlsFile(files.ca, 'ca') : undefined;
  return {
    cert: readTlsFile(files.cert, 'cert'),
    key: readTlsFile(files.key, 'key'),
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
