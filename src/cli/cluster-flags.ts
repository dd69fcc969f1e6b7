// io-server's cluster flags (issue 10): --cluster [url], --node-id, --cluster-mode, --cluster-prefix.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { CLUSTER_DEFAULTS, redisTargetOf, resolveClusterOptions, type ClusterOptionsInput } from '../cluster/cluster-options.js';
import { detectClusterMode } from '../cluster/detect-mode.js';
import { parseWorkers, type WorkerCount } from './workers.js';
import { DEFAULT_BACKOFF } from '../workers/restart-backoff.js';
import type { IpcPort } from '../workers/ipc.js';

function workersArg(text: string): WorkerCount {
  try {
    return parseWorkers(text);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

function restartMaxArg(text: string): number {
  const ms = Number(text);
  if (!/^\d+$/.test(text) || ms < 1 || ms > 3_600_000) throw new InvalidArgumentError('expected a number of ms from 1 to 3600000.');
  return ms;
}

export interface ClusterFlags {
  cluster?: boolean | string;
  nodeId?: string;
  clusterMode?: 'auto' | 'standalone' | 'sharded';
  clusterPrefix?: string;
  clusterBusRate?: number;
  workers?: WorkerCount;
  workerRestartMax?: number;
}

function byteRate(text: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new InvalidArgumentError('expected bytes per second (a whole number; 0 = no budget).');
  return Number(text);
}

export function addClusterOptions(command: Command): Command {
  return command
    .option('--cluster [redis-url]', 'join a cluster of iosig nodes over Redis pub/sub (default: REDIS_URL, else REDIS_HOST:REDIS_PORT, else localhost:6379; rediss:// for TLS)')
    .option('--node-id <id>', 'this node\'s id in the cluster (default: host name + pid)')
    .addOption(
      new Option('--cluster-mode <mode>', 'auto: sharded pub/sub (SPUBLISH/SSUBSCRIBE) on a Redis Cluster, plain pub/sub otherwise')
        .choices(['auto', 'standalone', 'sharded'])
        .default('auto'),
    )
    .option('--cluster-prefix <prefix>', `prefix of the cluster's Redis keys and channels (default: ${CLUSTER_DEFAULTS.prefix})`)
    .option(
      '--cluster-bus-rate <bytes/s>',
      `data bytes per second this node may send to other nodes, each publishing client about 1/(n+1) of it with n publishers; the rest is dropped and counted (default: ${CLUSTER_DEFAULTS.busRate}; 0 = no budget)`,
      byteRate,
    )
    .option('--workers <n|auto>', 'run n processes (auto: one per core) sharing both ports, joined through this process (no Redis), or over Redis with --cluster', workersArg)
    .option(
      '--worker-restart-max <ms>',
      `--workers: longest wait before a dead worker is started again; the wait doubles from ${DEFAULT_BACKOFF.baseMs} ms with each death in a row (default: ${DEFAULT_BACKOFF.maxMs})`,
      restartMaxArg,
    );
}

/**
 * The server's cluster input, or undefined without --cluster; throws on a bad URL or node id. A worker of
 * --workers without --cluster (`worker`) joins the other workers through its primary: see workerBusInput.
 */
export async function clusterInput(flags: ClusterFlags, log: (line: string) => void, worker = false): Promise<ClusterOptionsInput | undefined> {
  if (flags.cluster === undefined || flags.cluster === false) {
    if (worker) return undefined;
    if (flags.nodeId !== undefined || flags.clusterPrefix !== undefined || flags.clusterBusRate !== undefined) {
      throw new Error('--node-id, --cluster-prefix and --cluster-bus-rate need --cluster (or --workers)');
    }
    return undefined;
  }
  const input: ClusterOptionsInput = {
    url: typeof flags.cluster === 'string' ? flags.cluster : undefined,
    nodeId: flags.nodeId,
    prefix: flags.clusterPrefix,
    busRate: flags.clusterBusRate,
  };
  // Validates the URL and the node id before anything connects.
  const resolved = resolveClusterOptions(input);
  const target = redisTargetOf(resolved)!;
  if (flags.clusterMode === 'standalone' || flags.clusterMode === 'sharded') input.mode = flags.clusterMode;
  else {
    const found = await detectClusterMode(target);
    input.mode = found.mode;
    if (!found.reachable) log(`cluster: Redis ${target.label} not reachable; assuming a standalone Redis (use --cluster-mode sharded for a Redis Cluster)`);
  }
  log(`cluster: node ${resolved.nodeId} on ${input.mode === 'sharded' ? 'Redis Cluster (sharded pub/sub)' : 'Redis'} ${target.label}`);
  return input;
}

/** A worker of --workers without --cluster: its bus runs through the primary over `primary` (its IPC pipe). */
export function workerBusInput(flags: ClusterFlags, primary: IpcPort): ClusterOptionsInput {
  return { primary, nodeId: flags.nodeId, prefix: flags.clusterPrefix, busRate: flags.clusterBusRate };
}
