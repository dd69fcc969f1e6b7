// Tests that look inside a server (its router, its sessions, its numbers, its key store) go through here: the
// library's IosigServer shows only its documented face; the broker core behind it is `inside(server)`.
import type { IosigServer } from '../../src/server.js';
import type { Broker } from '../../src/broker/broker.js';
import type { BrokerCluster } from '../../src/cluster/broker-cluster.js';

export function inside(server: IosigServer): Broker {
  return server.broker;
}

/** The cluster membership of a node (throws on a single node). */
export function clusterOf(server: IosigServer): BrokerCluster {
  const cluster = server.clusterNode;
  if (!cluster) throw new Error('not a cluster node');
  return cluster;
}
