// The one server fixture: an iosig server on free loopback ports (WebSocket and CongSocket), its log silenced or
// collected, and what tests ask of it (its ports, its URLs), plus the repository root and a free port.
import net from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, type IosigServer } from '../../src/index.js';
import type { Transport } from './raw-client.js';

export type { IosigServer };

/** dist/test/kit/server.js → the repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const TRANSPORTS: readonly Transport[] = ['ws', 'cong'];

/** A server on free loopback ports with its log silenced (or collected into `lines`). */
export async function startServer(opts: Parameters<typeof createServer>[0] = {}, lines?: string[]): Promise<IosigServer> {
  return createServer({
    port: 0,
    congPort: 0,
    host: '127.0.0.1',
    log: lines ? (line: string) => void lines.push(line) : () => {},
    ...opts,
  });
}

export function portOf(server: { wsPort?: number | undefined; congPort?: number | undefined }, kind: Transport): number {
  const port = kind === 'ws' ? server.wsPort : server.congPort;
  if (port === undefined) throw new Error(`the server has no ${kind} listener`);
  return port;
}

export function urlOf(server: { wsPort?: number | undefined; congPort?: number | undefined }, transport: Transport): string {
  return `${transport}://127.0.0.1:${portOf(server, transport)}`;
}

/** A port that was free a moment ago (for servers that cannot listen on port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolvePromise(port));
    });
  });
}
