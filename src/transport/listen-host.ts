// Where listeners bind. The default `::` is dual-stack (IPv6 and IPv4-mapped peers on one socket);
// on a host without IPv6 it cannot bind, and the listener falls back to IPv4 only with a log line.
import type net from 'node:net';
import { ThrottledLog } from '../logging/throttled-log.js';

export const DUAL_STACK_HOST = '::';
const IPV4_ANY = '0.0.0.0';

/** The address to try next when binding `host` failed, or null when there is none. */
export function fallbackHost(host: string): string | null {
  return host === DUAL_STACK_HOST ? IPV4_ANY : null;
}

export function fallbackLine(what: string, port: number): string {
  return `${what}: cannot bind [::]:${port} (no IPv6 on this host?); listening on IPv4 only (0.0.0.0)`;
}

/** `server.listen(port, host)` with the IPv4 fallback; resolves with the bound port. */
export function listenNet(server: net.Server, port: number, host: string, what: string, log: (line: string) => void): Promise<number> {
  const attempt = (bindHost: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => reject(err);
      server.once('error', onError);
      server.listen(port, bindHost, () => {
        server.off('error', onError);
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });
  return attempt(host).catch((err: NodeJS.ErrnoException) => {
    const next = fallbackHost(host);
    if (next === null || (err.code !== 'EAFNOSUPPORT' && err.code !== 'EADDRNOTAVAIL')) {
      throw new Error(`cannot listen for ${what} on ${host}:${port}: ${err.message}`);
    }
    log(fallbackLine(what, port));
    return attempt(next).catch((again: Error) => {
      throw new Error(`cannot listen for ${what} on ${next}:${port}: ${again.message}`);
    });
  });
}

/**
 * Errors of a listening server (accept failing with EMFILE once libuv's own spare descriptor is used up too):
 * logged once a second at most, never thrown (an 'error' event without a listener would end the process).
 * Errors while binding are reported by listenNet.
 */
export function reportAcceptErrors(server: net.Server, what: string, log: (line: string) => void): void {
  const throttled = new ThrottledLog(log);
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (server.listening) throttled.write(`${what}: accept failed (${err.code ?? err.message}); new connections are refused until it recovers`);
  });
}
