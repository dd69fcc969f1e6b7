// A broker joins its cluster (`options.cluster`): the membership first, before any listener, then — once the
// node serves — the wait for its bus and, on Redis, the cluster's durable store. server.ts calls the two steps.
import { BrokerCluster } from '../cluster/broker-cluster.js';
import type { ClusterOptions } from '../cluster/cluster-options.js';
import type { Broker } from './broker.js';
import { ClusterSide } from './cluster-side.js';

/** How long a starting node waits for its bus (Redis) before serving anyway (it joins the cluster when the bus answers). */
const CLUSTER_JOIN_MS = 5000;

/** The membership: made and wired before any listener (server.ts), so the cluster sees every CID and subscription. */
export function joinCluster(
  broker: Broker,
  options: ClusterOptions,
  ports: () => { ws: number | undefined; cong: number | undefined },
): BrokerCluster {
  const side = new ClusterSide(broker, ports);
  const cluster = new BrokerCluster(side, options, broker.stats);
  side.connect(cluster);
  broker.join(cluster);
  return cluster;
}

/** Once the listeners are bound: waits a while for the bus, then opens the cluster's durable store behind it. */
export async function settleCluster(broker: Broker, cluster: BrokerCluster, prefix: string, version: string): Promise<void> {
  if (!(await cluster.node.waitReady(CLUSTER_JOIN_MS))) broker.log(`cluster: ${cluster.node.engineLabel} not reachable yet; serving local clients, joining when it answers`);
  // The cluster's durable store: Redis, once it answers (ioredis holds the commands until then). The other
  // engines (a memory hub, the workers' primary) keep no durable store of their own.
  const commands = cluster.node.redisCommands;
  if (commands === null) return;
  const redis = { client: commands, url: cluster.node.engineLabel, prefix };
  broker.durability.attachCluster(version, redis).catch((err: unknown) => broker.log(`cluster: the Redis store could not be opened (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); CID-retained values are kept in memory only`));
}
