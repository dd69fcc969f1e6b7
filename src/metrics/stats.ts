// The broker's numbers, one home each: plain counters incremented in place on the hot path by whoever does the
// thing counted (a session, a delivery group, a transport, the door), read as they are when scraped. Nothing is
// summed from several places: a delivery group adds its deliveries here, not to a total of its own.
import type { DurabilitySample } from './durability-sample.js';
import { LOGIN_FAILURE_REASONS, type LoginFailureReason } from '../info.js';
import type { MqttSample } from './mqtt-sample.js';
import type { ClusterSample } from './cluster-sample.js';
import type { WorkersSample } from '../workers/workers-sample.js';

/** Why the slow-consumer policy applied: stayed behind past the write deadline, over the hard cap, over the global budget. */
export type VerdictReason = 'deadline' | 'backlog' | 'budget';

/** Counters of the broker, incremented where the thing counted happens; read as they are when scraped. */
export class Stats {
  messagesIn = 0;
  bytesIn = 0;
  /**
   * Messages written to sockets: a session's own sends (replies, control messages) and every delivery group's
   * deliveries (one per receiver; the remote-nodes group counts one per bus envelope).
   */
  messagesOut = 0;
  bytesOut = 0;
  /** Publishes routed (SIGNAL / SIGNAL_E2E accepted by the router). */
  publishes = 0;
  /** Signal deliveries handed to a receiver's socket by a delivery group (dropped ones are counted in `drops`). */
  deliveries = 0;
  /** Deliveries not written: the receiver was over its limit, being closed as a slow consumer, or not sealed. */
  drops = 0;
  /** Connections closed by the slow-consumer policy (counted when the verdict is given). */
  slowConsumerCloses = 0;
  /** WebSocket text frames received (not protocol messages). */
  textMessages = 0;
  /** Frames translated for plain devices: at most one per publish and format, whatever the number of devices. */
  plainFramesBuilt = 0;
  /** Malformed or refused messages (bad lengths, invalid UTF-8 tags, reserved tags...). */
  badMessages = 0;
  /** CongSocket framing errors (unknown type byte, frame over the limit). */
  framingErrors = 0;
  /** Bytes held by the bodies of large CongSocket frames still arriving (a gauge; --max-inbound-total). */
  inboundPartialBytes = 0;
  /** Large CongSocket frames refused over --max-inbound-total (their connections closed). */
  inboundRefused = 0;
  /** OVER_SIZE answers (size quota) and messages over the transport limit. */
  overSize = 0;
  /** Size or rate quota violations. */
  quotaViolations = 0;
  /** TLS handshakes that failed (bad or missing client certificate under mutual TLS...). */
  tlsRefused = 0;
  /** Logins accepted and refused. */
  authOk = 0;
  authFail = 0;
  /** Refused logins by reason (`iosig_login_failures_total{reason}`). */
  readonly authFailByReason = Object.fromEntries(LOGIN_FAILURE_REASONS.map((reason) => [reason, 0])) as Record<LoginFailureReason, number>;
  /** Connections accepted since start, per transport. */
  acceptedWs = 0;
  acceptedCong = 0;
  acceptedMqtt = 0;
  /** Connections refused at the door: over the global cap, or over the per-address cap. */
  refusedGlobal = 0;
  refusedAddress = 0;
  /** --workers: refused because the primary, which keeps the host's caps, did not answer in time. */
  refusedPrimaryUnavailable = 0;
  /** Sockets refused at accept over the budgets of sockets still opening: in all, or from one address. */
  refusedHandshakes = 0;
  refusedHandshakesAddress = 0;
  /** Sockets closed for missing a deadline of their opening: the TLS handshake, the first frame / request head. */
  handshakeTimeouts = 0;
  openingTimeouts = 0;
  /** Times the descriptor guard paused the uWS listeners (descriptors nearly used up). */
  listenerPauses = 0;
  /** Connections closed by the keepalive sweep. */
  timeouts = 0;
  /** Unexpected errors in connection code, contained by closing that connection (a bug, never client-fatal). */
  internalErrors = 0;
  /** Refusals by a state cap: subscriptions past the per-connection cap, new channels past the channel cap, retained bytes past the global cap. */
  refusedSubscriptions = 0;
  refusedChannels = 0;
  refusedRetained = 0;
  /** Refusals by a per-owner share (an address or device holding its share of channels / of retained values). */
  refusedChannelShare = 0;
  refusedRetainedShare = 0;
  /** New channel-retained entries past the retained-channel cap (`retain.limitCounter`). */
  refusedRetainedEntries = 0;
  /** Requests the access rules refused, by right (`iosig_acl_denials_total{right}`). */
  // Spelled out: the dashboard's browser code reads this file's types, and src/access/ is Node code.
  readonly aclDenials = { subscribe: 0, publish: 0, retain: 0, send: 0, call: 0 };
  /** Live subscriptions ended because the rules (or a login) no longer let their session read them. */
  aclRevokedSubscriptions = 0;
  /** Access rules in force (-1: no ACL), and rule sets put in force after the first. */
  aclRules = -1;
  aclReloads = 0;
  /** Sessions ended at their token's (or hook answer's) expiry. */
  sessionsExpired = 0;
  /** New connections refused by `--conn-rate`, per listener (`iosig_connections_refused_total{cap="rate_<l>"}`). */
  refusedRateWs = 0;
  refusedRateCong = 0;
  refusedRateMqtt = 0;
}

/** The counters and the gauges of one moment (`metrics()`, /metrics). */
export interface MetricsSnapshot extends Stats {
  lastSsid: number;
  connections: number;
  connectionsWs: number;
  connectionsCong: number;
  channels: number;
  subscriptions: number;
  retainedChannel: number;
  retainedCid: number;
  /** Bytes held by retained messages of both kinds (bounded by maxRetainedBytes). */
  retainedBytes: number;
  onlineCids: number;
  /** Receivers over the soft backlog limit right now, and what they held at the last check. */
  slowConsumersBehind: number;
  backlogBytesBehind: number;
  /** Slow-consumer verdicts by reason: stayed behind past the write deadline, over the hard cap, over the global budget. */
  slowConsumerVerdicts: Record<VerdictReason, number>;
  /** Sockets counted from their accept that are still opening (TLS handshake, first frame, request head). */
  openingSockets: number;
  /** 1 while the descriptor guard holds the uWS listeners closed. */
  listenerPaused: number;
}

/** Event-loop lag over the last completed window (event-loop-lag.ts). */
export interface LagStats {
  meanSeconds: number;
  p99Seconds: number;
  maxSeconds: number;
}

/** Connections by transport and login state. */
export interface ConnectionCounts {
  wsAuthorized: number;
  wsAnonymous: number;
  congAuthorized: number;
  congAnonymous: number;
}

/** One registry sample: the snapshot and what the sampler adds (sample.ts); what /metrics, /api/status, the dashboard and the `-m` tables read. */
export interface MetricsSample extends MetricsSnapshot {
  /** Milliseconds since the epoch when the sample was taken. */
  time: number;
  connectionsByState: ConnectionCounts;
  eventLoopLag: LagStats;
  rssBytes: number;
  /** Null on a single node. */
  cluster: ClusterSample | null;
  /** Null unless this process is a worker of `io-server --workers`. */
  workers: WorkersSample | null;
  /** Null without an MQTT listener. */
  mqtt: MqttSample | null;
  /** The durable store and the histories; null when neither is kept (docs/durability.md). */
  durability: DurabilitySample | null;
}

/** The four traffic totals the dashboard's chart reads once a second. */
export type TrafficCounters = Pick<Stats, 'messagesIn' | 'messagesOut' | 'bytesIn' | 'bytesOut'>;

/** Traffic per second over one step of the chart (traffic-history.ts). */
export interface TrafficPoint {
  /** End of the interval, ms since the epoch. */
  time: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
}
