// node:tls settings from the configured certificate files; a CA turns on mutual TLS.
import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import type { ServerOptions } from '../options.js';

export function tlsServerOptions(options: ServerOptions): tls.TlsOptions | null {
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
    handshakeTimeout: 10_000,
  };
}
