// Plain counters of one node's bus, read by /metrics, /api/status and the heartbeat record.
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
  /** Cross-node messages lost: sent while Redis was away, refused by Redis, or over the in-flight bound. */
  dropped = 0;
  /** Envelopes nobody could read (another program on our channels, a newer node). */
  malformed = 0;
  /** Times every interest was subscribed again after Redis came back. */
  resubscribes = 0;
  /** Last and worst bus round trip (own channel), in ms; -1 before the first. */
  lagMs = -1;
  maxLagMs = 0;
}
