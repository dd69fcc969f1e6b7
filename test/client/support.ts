// Shared pieces for the client and io CLI tests: servers on free loopback ports, bounded event waits,
// and the iosignal 2.2.1 reference server in a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, type IosigServer, type ServerOptionsInput } from '../../src/index.js';
import type { ClientEvents, IoClient } from '../../src/client/index.js';
import { CHILD_PROCESS_DEADLINE_MS, TimeoutError, sleep } from '../helpers/wait.js';

/** dist/test/client/support.js → repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export type Transport = 'ws' | 'cong';
export const TRANSPORTS: readonly Transport[] = ['ws', 'cong'];

export function startServer(options: ServerOptionsInput = {}): Promise<IosigServer> {
  return createServer({ port: 0, congPort: 0, host: '127.0.0.1', log: () => {}, ...options });
}

export function urlOf(server: { wsPort?: number | undefined; congPort?: number | undefined }, transport: Transport): string {
  const port = transport === 'ws' ? server.wsPort : server.congPort;
  if (port === undefined) throw new Error(`the server has no ${transport} listener`);
  return `${transport}://127.0.0.1:${port}`;
}

/** The arguments of the next `event` (that passes `accept`), or a TimeoutError after `ms`. */
export function nextEvent<K extends keyof ClientEvents>(
  client: IoClient,
  event: K,
  ms: number,
  accept: (...args: ClientEvents[K]) => boolean = () => true,
): Promise<ClientEvents[K]> {
  return new Promise((resolvePromise, reject) => {
    const listener = (...args: ClientEvents[K]): void => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      client.off(event, listener as never);
      resolvePromise(args);
    };
    const timer = setTimeout(() => {
      client.off(event, listener as never);
      reject(new TimeoutError(`client event "${String(event)}"`, ms));
    }, ms);
    client.on(event, listener as never);
  });
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

async function accepting(port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolvePromise) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolvePromise(true);
      });
      socket.once('error', () => resolvePromise(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new TimeoutError(`port ${port} to accept`, 5000);
    await sleep(50);
  }
}

export interface ReferenceServer {
  wsPort: number;
  congPort: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** The iosignal 2.2.1 reference server (its own process: it logs to the console and keeps global state). */
export async function startReferenceServer(): Promise<ReferenceServer> {
  const wsPort = await freePort();
  const congPort = await freePort();
  const script = `import { Server } from 'iosignal'; new Server({ port: ${wsPort}, congPort: ${congPort} });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: 'ignore' });
  const deadline = Date.now() + CHILD_PROCESS_DEADLINE_MS;
  await accepting(wsPort, deadline);
  await accepting(congPort, deadline);
  return {
    wsPort,
    congPort,
    child,
    stop: () => stopChild(child),
  };
}

/** Kills `child` and waits (at most 2 s) for it to be gone. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const timer = setTimeout(resolvePromise, 2000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolvePromise();
    });
    child.kill('SIGKILL');
  });
}
