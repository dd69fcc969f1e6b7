// What a cluster node reports about itself and the cluster, read at scrape time (issue 10, observability).
import type { BusLink, DropReason } from './bus-stats.js';

/** One node's self-description, renewed every heartbeat in Redis (shown by /api/status and the dashboard). */
export interface NodeStatus {
  id: string;
  /** Its listeners, as configured (host, WebSocket and CongSocket ports). */
  address: string;
  startedAt: number;
  connections: number;
  /** Bus round trip through Redis in ms (-1 unknown). */
  lagMs: number;
  /** Cross-node messages it did not send (Redis away, over the in-flight bound or the bus budget, refused). */
  dropped: number;
  /** Data envelopes sent to it that never arrived (sequence gaps); absent in records of older nodes. */
  gaps?: number;
  published: number;
  received: number;
  /** When the record was written (that node's clock). */
  at: number;
}

/** This node's bus and the cluster as it sees it, for /metrics, /api/status and the dashboard. */
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
  /** Sender side: cross-node messages not sent, in all and by reason (down, in_flight, budget, share, refused). */
  dropped: number;
  droppedBy: Readonly<Record<DropReason, number>>;
  /** Receiving side: data envelopes other nodes sent here that never arrived, in all and by sender node. */
  gaps: number;
  gapsBySender: Readonly<Record<string, number>>;
  /** Redis connections of the bus lost after they had been up, by connection. */
  disconnects: Readonly<Record<BusLink, number>>;
  /** The node's outbound data budget in bytes per second (0: none). */
  busRate: number;
  malformed: number;
  resubscribes: number;
  lagMs: number;
  maxLagMs: number;
  /** Channel keys other nodes want / this node wants. */
  remoteKeys: number;
  localInterests: number;
  /** Every live node as last read from Redis (refreshed each heartbeat). */
  nodes: readonly NodeStatus[];
  totals: { nodes: number; connections: number; dropped: number; gaps: number };
}
