// `io-server --workers N|auto`: N processes on one host sharing both ports, joined by the cluster bus.
// WebSocket: every worker binds the port itself (uWS sets SO_REUSEPORT on Linux, the kernel spreads connections).
// CongSocket: node:cluster — the primary holds the socket and hands connections to the workers in turn.
import cluster from 'node:cluster';
import net from 'node:net';
import { availableParallelism } from 'node:os';

export type WorkerCount = number | 'auto';

export function parseWorkers(text: string): WorkerCount {
  if (text === 'auto') return 'auto';
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`--workers takes a count (1-256) or auto, not "${text}"`);
  return n;
}

export const isWorker = (): boolean => cluster.isWorker;

/** Why --workers cannot run with these flags (null when it can). */
export function workersProblem(workers: WorkerCount, clusterFlag: boolean | string | undefined, env: NodeJS.ProcessEnv): string | null {
  const hasUrl = typeof clusterFlag === 'string' || Boolean(env['REDIS_URL']) || Boolean(env['REDIS_HOST']);
  if (clusterFlag === undefined || clusterFlag === false) {
    return hasUrl
      ? `--workers ${workers} needs --cluster: the worker processes reach each other's clients only through Redis (a Redis URL is set in the environment; add --cluster to use it)`
      : `--workers ${workers} needs --cluster <redis-url>: the worker processes reach each other's clients only through Redis, and no Redis is configured (no --cluster URL, no REDIS_URL, no REDIS_HOST)`;
  }
  if (workers === 'auto' && !hasUrl) {
    return '--workers auto needs a Redis URL: give --cluster redis://host:port, or set REDIS_URL (or REDIS_HOST / REDIS_PORT); without one the workers would assume localhost:6379';
  }
  return null;
}

/** A port number the workers can share: 0 becomes a free port chosen here. */
export async function concretePort(port: number, host: string): Promise<number> {
  if (port !== 0) return port;
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host === '::' ? '::' : host, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

const RESTART_DELAY_MS = 1000;
const MAX_RESTARTS_PER_MINUTE = 10;

/**
 * The primary: forks `count` workers running `args` (the command line without --workers; each gets
 * `--node-id <base>-w<i>`), restarts a worker that dies (bounded), and stops them all on SIGTERM/SIGINT.
 * Resolves with the exit code once every worker has exited.
 */
export function runPrimary(workers: WorkerCount, args: string[], baseNodeId: string, log: (line: string) => void): Promise<number> {
  const count = workers === 'auto' ? availableParallelism() : workers;
  let stopping = false;
  const restarts: number[] = [];
  const fork = (i: number): void => {
    cluster.setupPrimary({ args: [...args, '--node-id', `${baseNodeId}-w${i}`] });
    const worker = cluster.fork({ IOSIG_WORKER: String(i) });
    worker.on('exit', (code, signal) => {
      if (stopping) return;
      const now = Date.now();
      while (restarts.length && now - restarts[0]! > 60_000) restarts.shift();
      if (restarts.length >= MAX_RESTARTS_PER_MINUTE) {
        log(`io-server: worker ${i} exited (${code ?? signal}); too many restarts in a minute, stopping`);
        void stopAll();
        return;
      }
      restarts.push(now);
      log(`io-server: worker ${i} exited (${code ?? signal}); restarting it in ${RESTART_DELAY_MS} ms`);
      setTimeout(() => !stopping && fork(i), RESTART_DELAY_MS);
    });
  };
  log(`io-server: starting ${count} worker processes (${workers === 'auto' ? 'one per core' : 'as asked'}), node ids ${baseNodeId}-w0…w${count - 1}`);
  for (let i = 0; i < count; i++) fork(i);
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));
  const stopAll = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const all = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    await Promise.all(
      all.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            w.once('exit', () => resolve());
            w.process.kill('SIGTERM');
          }),
      ),
    );
    finish(0);
  };
  process.on('SIGTERM', () => void stopAll());
  process.on('SIGINT', () => void stopAll());
  return done;
}
