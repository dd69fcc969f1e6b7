// What a cluster node reports about itself and the cluster, read at scrape time (issue 10, observability).

/** One node's self-description, renewed every heartbeat in Redis (shown by /api/status and the dashboard). */
export interface NodeStatus {
  id: string;
  /** Its listeners, as configured (host, WebSocket and CongSocket ports). */
  address: string;
  startedAt: number;
  connections: number;
  /** Bus round trip through Redis in ms (-1 unknown). */
  lagMs: number;
  /** Cross-node messages it lost (sent while Redis was away, refused, over the bound). */
  dropped: number;
  published: number;
  received: number;
  /** When the record was written (that node's clock). */
  at: number;
}

export interface ClusterSample {
  node: string;
  /** Redis reachable and every interest subscribed. */
  ready: boolean;
  published: number;
  redisDeliveries: number;
  /** Redis messages carrying data envelopes (bundles count once), and the subscriptions Redis delivered them to. */
  redisMessagesIn: number;
  redisMessagesOut: number;
  controlSent: number;
  received: number;
  echoes: number;
  dropped: number;
  malformed: number;
  resubscribes: number;
  lagMs: number;
  maxLagMs: number;
  /** Channel keys other nodes want / this node wants. */
  remoteKeys: number;
  localInterests: number;
  /** Every live node as last read from Redis (refreshed each heartbeat). */
  nodes: readonly NodeStatus[];
  totals: { nodes: number; connections: number; dropped: number };
}
