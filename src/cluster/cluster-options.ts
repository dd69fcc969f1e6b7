// Cluster options (issue 10): which engine the bus runs on (Redis: where it is and which flavour of pub/sub it
// speaks; the workers' primary; a memory hub), who this node is.
import { hostname } from 'node:os';
import { redisTarget, type RedisTarget } from '../auth/redis-target.js';
import type { MemoryHub } from './memory-links.js';
import type { IpcPort } from '../workers/ipc.js';

/** `standalone`: PUBLISH/SUBSCRIBE on one Redis; `sharded`: SPUBLISH/SSUBSCRIBE on a Redis Cluster (Redis ≥ 7). */
export type ClusterMode = 'standalone' | 'sharded';

/**
 * What the bus runs on (src/cluster/links.ts): Redis across hosts (`--cluster`); the primary of
 * `io-server --workers` over node's cluster IPC, one host without Redis; a memory hub, several brokers in one
 * process (tests, benches).
 */
export type BusEngine =
  | { kind: 'redis'; target: RedisTarget; mode: ClusterMode }
  | { kind: 'workers'; primary: IpcPort }
  | { kind: 'memory'; hub: MemoryHub };

/** A node's cluster membership, resolved (`--cluster` and the flags around it; README, Cluster). */
export interface ClusterOptions {
  engine: BusEngine;
  /** Unique per node; default host name + pid. */
  nodeId: string;
  /** Prefix of every Redis key and channel the cluster uses, so several clusters can share one Redis. */
  prefix: string;
  /** Heartbeat period; the node lease lives `leaseMs` and is renewed every heartbeat. */
  heartbeatMs: number;
  /** A node whose lease is older than this is dead: its CIDs are released and close notices published. */
  leaseMs: number;
  /** Lease of an anonymous-CID slot: long, so a slot is never reused while its CIDs may still be online. */
  slotLeaseMs: number;
  /** Most interests subscribed per SUBSCRIBE command when (re)subscribing in bulk. */
  subscribeBatch: number;
  /**
   * Data bytes per second this node may send over the bus, each publishing client (address or device) about
   * 1/(n + 1) of it with n publishers (src/cluster/bus-budget.ts); past it, cross-node messages are dropped and
   * counted. 0 = no budget.
   */
  busRate: number;
}

/**
 * The cluster options a caller gives: any of ClusterOptions, and instead of the engine, the Redis URL and mode
 * (the default engine), or `hub` (a MemoryHub shared with the other brokers of this process), or `primary` (a
 * worker's pipe to the primary of --workers).
 */
export type ClusterOptionsInput = Partial<Omit<ClusterOptions, 'engine'>> & { url?: string; mode?: ClusterMode; hub?: MemoryHub; primary?: IpcPort };

/** The defaults of the cluster options. */
export const CLUSTER_DEFAULTS = {
  prefix: 'iosig',
  heartbeatMs: 1000,
  leaseMs: 3000,
  slotLeaseMs: 300_000,
  subscribeBatch: 1000,
  /**
   * 32 MiB/s: a lone flooding client may send 16 MiB/s (about 15 000 1 KiB messages a second) to other nodes; a
   * node reading less than that from Redis is still outrun (README, Cluster: measured figures).
   */
  busRate: 32 * 1024 * 1024,
} as const;

/** A node id unique on the network: host name and process id. */
export function defaultNodeId(): string {
  return `${hostname()}-${process.pid}`;
}

/** ClusterOptions with defaults applied and the Redis target resolved; throws on a bad value, naming it. */
export function resolveClusterOptions(input: ClusterOptionsInput, env: NodeJS.ProcessEnv = process.env): ClusterOptions {
  const heartbeatMs = Math.max(50, input.heartbeatMs ?? CLUSTER_DEFAULTS.heartbeatMs);
  const nodeId = input.nodeId ?? defaultNodeId();
  if (!/^[\w.:-]{1,64}$/.test(nodeId)) throw new Error(`--node-id must be 1-64 characters of [A-Za-z0-9_.:-], got "${nodeId}"`);
  return {
    engine: engineOf(input, env),
    nodeId,
    prefix: input.prefix ?? CLUSTER_DEFAULTS.prefix,
    heartbeatMs,
    leaseMs: Math.max(heartbeatMs * 2, input.leaseMs ?? CLUSTER_DEFAULTS.leaseMs),
    slotLeaseMs: Math.max(heartbeatMs * 10, input.slotLeaseMs ?? CLUSTER_DEFAULTS.slotLeaseMs),
    subscribeBatch: Math.max(1, input.subscribeBatch ?? CLUSTER_DEFAULTS.subscribeBatch),
    busRate: Math.max(0, input.busRate ?? CLUSTER_DEFAULTS.busRate),
  };
}

function engineOf(input: ClusterOptionsInput, env: NodeJS.ProcessEnv): BusEngine {
  if (input.hub) return { kind: 'memory', hub: input.hub };
  if (input.primary) return { kind: 'workers', primary: input.primary };
  return { kind: 'redis', target: redisTarget(input.url, env), mode: input.mode ?? 'standalone' };
}

/** The Redis target of a cluster on Redis; null on the other engines. */
export function redisTargetOf(options: ClusterOptions): RedisTarget | null {
  return options.engine.kind === 'redis' ? options.engine.target : null;
}
