// `io-server --workers N|auto`: N processes on one host sharing both ports, joined by the cluster bus: through the
// primary over node's cluster IPC (no Redis), or over Redis with --cluster.
// WebSocket: every worker binds the port itself (uWS sets SO_REUSEPORT on Linux, the kernel spreads connections).
// CongSocket: node:cluster — the primary holds the socket and hands connections to the workers in turn.
// The primary (src/workers/supervisor.ts) keeps the host's connection caps and login throttle for the workers and
// restarts a worker that dies, with a back-off.
import type { LoginLimits } from '../policies.js';
import cluster from 'node:cluster';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, defaultMaxConnections } from '../guard/admission.js';
import { resolveLoginLimits } from '../guard/login-guard.js';
import type { HostLimits } from '../workers/host-ledger.js';
import { Supervisor, type SupervisorOptions } from '../workers/supervisor.js';

export type WorkerCount = number | 'auto';

export function parseWorkers(text: string): WorkerCount {
  if (text === 'auto') return 'auto';
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`--workers takes a count (1-256) or auto, not "${text}"`);
  return n;
}

export const isWorker = (): boolean => cluster.isWorker;

/**
 * Why --workers cannot run with these flags (null when it can). Without --cluster the workers' bus runs through
 * the primary (node's cluster IPC), no Redis needed; with --cluster they join over Redis as before.
 */
export function workersProblem(workers: WorkerCount, clusterFlag: boolean | string | undefined, env: NodeJS.ProcessEnv): string | null {
  const hasUrl = typeof clusterFlag === 'string' || Boolean(env['REDIS_URL']) || Boolean(env['REDIS_HOST']);
  if (clusterFlag !== undefined && clusterFlag !== false && workers === 'auto' && !hasUrl) {
    return '--workers auto --cluster needs a Redis URL: give --cluster redis://host:port, or set REDIS_URL (or REDIS_HOST / REDIS_PORT); without one the workers would assume localhost:6379 (leave out --cluster to join the workers without Redis)';
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

/** The host's budget under --workers: one per-address cap and login throttle for every worker together. */
export function hostLimits(
  flags: { maxConnections?: number; maxConnectionsPerAddress?: number },
  logins: Partial<LoginLimits>,
  count: number,
): HostLimits {
  return {
    connections: {
      // An explicit cap is the host's; the default is each worker's descriptor budget, times the workers (each
      // worker still keeps its own descriptor cap).
      maxConnections: flags.maxConnections ?? defaultMaxConnections() * count,
      maxConnectionsPerAddress: flags.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
    },
    logins: resolveLoginLimits(logins),
  };
}

export const workerCount = (workers: WorkerCount): number => (workers === 'auto' ? availableParallelism() : workers);

/**
 * The primary: forks the workers running `args` (the command line; each gets `--node-id <base>-w<i>`), keeps the
 * host's ledgers, restarts a worker that dies after a back-off, passes SIGHUP on to the workers, and stops them all
 * on SIGTERM/SIGINT. Resolves
 * with the exit code: 0 after a requested stop, the workers' code when none could start serving.
 */
export function runPrimary(options: SupervisorOptions, auto: boolean, overRedis: boolean): Promise<number> {
  const { count, baseNodeId } = options;
  const bus = overRedis ? 'joined over Redis' : 'joined through this process, no Redis';
  options.log(`io-server: starting ${count} worker processes (${auto ? 'one per core' : 'as asked'}), node ids ${baseNodeId}-w0…w${count - 1}, ${bus}`);
  const supervisor = new Supervisor(options);
  process.on('SIGTERM', () => void supervisor.stop(0));
  process.on('SIGINT', () => void supervisor.stop(0));
  // SIGHUP would end the primary (node's default), and with it every worker: it means "re-read the keys".
  process.on('SIGHUP', () => supervisor.reload());
  return supervisor.start();
}
