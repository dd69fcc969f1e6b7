// Sockets that connect and then say nothing — not even a TLS ClientHello — or that finish a TLS handshake and
// stop there: the attacker of issue 16 item 4, who holds descriptors without ever becoming a connection.
import net from 'node:net';
import tls from 'node:tls';
import { sleep } from './wait.js';

export class IdleSocket {
  closed = false;
  /** Bytes the server sent (a CongSocket greeting, a TLS alert...). */
  bytes = 0;
  private readonly closeWaiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.bytes += chunk.length;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      for (const wake of this.closeWaiters.splice(0)) wake();
    });
  }

  /** A TCP connection from `localAddress` that sends nothing; resolves once it is connected (or failed). */
  static open(port: number, localAddress: string): Promise<IdleSocket> {
    const idle = new IdleSocket(net.connect({ port, host: '127.0.0.1', localAddress }));
    return new Promise((resolve) => {
      idle.socket.once('connect', () => resolve(idle));
      idle.socket.once('close', () => resolve(idle));
    });
  }

  /** A TLS connection that finishes its handshake and then sends nothing. */
  static openTls(port: number, localAddress: string, options: tls.ConnectionOptions): Promise<IdleSocket> {
    const local = { localAddress };
    const idle = new IdleSocket(tls.connect({ port, host: '127.0.0.1', ...local, ...options }));
    return new Promise((resolve) => {
      idle.socket.once('secureConnect', () => resolve(idle));
      idle.socket.once('close', () => resolve(idle));
    });
  }

  /** Resolves true once the server closed it, false if it is still open after `ms`. */
  closedWithin(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** `count` idle TCP sockets from `localAddress`, opened all at once; resolves when each has connected or failed. */
export function idleFlood(port: number, count: number, localAddress: string): Promise<IdleSocket[]> {
  return Promise.all(Array.from({ length: count }, () => IdleSocket.open(port, localAddress)));
}

/**
 * Resolves with the number still open once none of `sockets` has been closed for `quietMs` — the server has dealt
 * with the flood (accepted, refused or reset what it will) — or after `maxMs`.
 */
export async function settled(sockets: readonly IdleSocket[], quietMs = 500, maxMs = 15_000): Promise<number> {
  const openCount = (): number => sockets.reduce((n, s) => n + (s.closed ? 0 : 1), 0);
  const end = Date.now() + maxMs;
  let last = openCount();
  let quietSince = Date.now();
  while (Date.now() < end && Date.now() - quietSince < quietMs) {
    await sleep(50);
    const now = openCount();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    }
  }
  return last;
}
