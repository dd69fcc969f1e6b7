// Cluster options (issue 10): where the bus's Redis is, which flavour of pub/sub it speaks, who this node is.
import { hostname } from 'node:os';
import { redisTarget, type RedisTarget } from '../auth/redis-target.js';

/** `standalone`: PUBLISH/SUBSCRIBE on one Redis; `sharded`: SPUBLISH/SSUBSCRIBE on a Redis Cluster (Redis ≥ 7). */
export type ClusterMode = 'standalone' | 'sharded';

/** A node's cluster membership, resolved (`--cluster` and the flags around it; README, Cluster). */
export interface ClusterOptions {
  target: RedisTarget;
  mode: ClusterMode;
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

/** The cluster options a caller gives: any of ClusterOptions, and the Redis URL instead of a resolved target. */
export type ClusterOptionsInput = Partial<Omit<ClusterOptions, 'target'>> & { url?: string };

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
    target: redisTarget(input.url, env),
    mode: input.mode ?? 'standalone',
    nodeId,
    prefix: input.prefix ?? CLUSTER_DEFAULTS.prefix,
    heartbeatMs,
    leaseMs: Math.max(heartbeatMs * 2, input.leaseMs ?? CLUSTER_DEFAULTS.leaseMs),
    slotLeaseMs: Math.max(heartbeatMs * 10, input.slotLeaseMs ?? CLUSTER_DEFAULTS.slotLeaseMs),
    subscribeBatch: Math.max(1, input.subscribeBatch ?? CLUSTER_DEFAULTS.subscribeBatch),
    busRate: Math.max(0, input.busRate ?? CLUSTER_DEFAULTS.busRate),
  };
}
