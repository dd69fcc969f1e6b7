// Plain counters of one node's bus, read by /metrics, /api/status and the heartbeat record.

/** Why a cross-node message was dropped by its sender (`iosig_cluster_dropped_total{reason}`; outbox.ts). */
export const DROP_REASONS = ['down', 'in_flight', 'budget', 'share', 'refused'] as const;
/** One of DROP_REASONS. */
export type DropReason = (typeof DROP_REASONS)[number];

/** Which Redis connection went away: the one that publishes, or the one that receives (its subscriptions). */
export type BusLink = 'publish' | 'subscribe';

/** The cluster bus's own counters (the remote-nodes group counts its deliveries in Stats). */
export class BusStats {
  /** Data envelopes (publish, unicast, everyone) this node sent to Redis. */
  published = 0;
  /** Redis messages that carried them: a run of envelopes to one channel in one turn travels as one. */
  redisMessages = 0;
  /** Node subscriptions Redis delivered those messages to (own echo included). */
  redisMessagesOut = 0;
  /** Node subscriptions Redis delivered them to, per envelope (own echo included). */
  redisDeliveries = 0;
  /** Control envelopes sent (interest announcements, snapshots, requests, pings). */
  controlSent = 0;
  /** Data envelopes received from other nodes. */
  received = 0;
  /** Own publishes that came back (this node had interest too) and were ignored. */
  echoes = 0;
  /** Cross-node messages this node did not send: Redis away, over the in-flight bound or the budget, refused by Redis. */
  dropped = 0;
  readonly droppedBy = Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<DropReason, number>;
  /** Data envelopes other nodes sent here that never arrived (sequence gaps; sequences.ts). */
  gaps = 0;
  /** Times a Redis connection of the bus was lost after it had been up. */
  readonly disconnects: Record<BusLink, number> = { publish: 0, subscribe: 0 };
  /** Envelopes nobody could read (another program on our channels, a newer node). */
  malformed = 0;
  /** Times every interest was subscribed again after Redis came back. */
  resubscribes = 0;
  /** Last and worst bus round trip (own channel), in ms; -1 before the first. */
  lagMs = -1;
  maxLagMs = 0;
}
