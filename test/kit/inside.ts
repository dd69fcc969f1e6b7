// Tests that look inside a server (its router, its sessions, its numbers, its key store) go through here: the
// library's IosigServer shows only its documented face; the broker core behind it is `inside(server)`.
import { Server, type IosigServer } from '../../src/server.js';
import type { Broker } from '../../src/broker/broker.js';
import type { BrokerViews } from '../../src/broker/views.js';
import type { BrokerCluster } from '../../src/cluster/broker-cluster.js';

/** The server behind the library's view: its listeners, its broker, connectPlain's full PlainLink. */
export function serverOf(server: IosigServer): Server {
  if (!(server instanceof Server)) throw new Error('not a server made by createServer');
  return server;
}

export function inside(server: IosigServer): Broker {
  return serverOf(server).broker;
}

/** What observers read (metrics, pages, the shared sample). */
export function viewsOf(server: IosigServer): BrokerViews {
  return serverOf(server).views;
}

/** The cluster membership of a node (throws on a single node). */
export function clusterOf(server: IosigServer): BrokerCluster {
  const cluster = serverOf(server).cluster;
  if (!cluster) throw new Error('not a cluster node');
  return cluster;
}
