// Shared pieces for the client and io CLI tests: bounded event waits, and the iosignal 2.2.1 reference server in a
// child process.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { ClientEvents, IoClient } from '../../src/client/index.js';
import { CHILD_PROCESS_DEADLINE_MS, TimeoutError, sleep } from '../kit/wait.js';
import { ROOT, freePort } from '../kit/server.js';
import { stopChild } from '../kit/child-output.js';




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

