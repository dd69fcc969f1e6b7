// Prometheus text exposition through prom-client. Every metric is filled by a collect() callback from one
// sample taken at scrape time, so the broker's hot path only ever bumps plain numbers.
import { Counter, Gauge, Registry } from 'prom-client';
import type { ServerMetrics } from './sample.js';
import type { MetricsSample } from './stats.js';
import type { ClusterSample } from './cluster-sample.js';
import type { MqttSample } from './mqtt-sample.js';
import type { WorkersSample } from '../workers/workers-sample.js';
import { DROP_REASONS } from './bus-stats.js';
import { durabilitySeries } from '../store/admin.js';

type Labels = Record<string, string>;
type Reading = readonly [labels: Labels, value: number];

interface MetricDefinition {
  name: string;
  help: string;
  kind: 'counter' | 'gauge';
  labelNames?: readonly string[];
  read(sample: MetricsSample): readonly Reading[];
}

const NO_LABELS: Labels = {};

function single(read: (sample: MetricsSample) => number): (sample: MetricsSample) => readonly Reading[] {
  return (sample) => [[NO_LABELS, read(sample)]];
}

const DEFINITIONS: readonly MetricDefinition[] = [
  {
    name: 'iosig_connections',
    help: 'Open connections by transport and login state.',
    kind: 'gauge',
    labelNames: ['transport', 'auth'],
    read: ({ connectionsByState: c }) => [
      [{ transport: 'ws', auth: 'authorized' }, c.wsAuthorized],
      [{ transport: 'ws', auth: 'anonymous' }, c.wsAnonymous],
      [{ transport: 'cong', auth: 'authorized' }, c.congAuthorized],
      [{ transport: 'cong', auth: 'anonymous' }, c.congAnonymous],
    ],
  },
  {
    name: 'iosig_connections_accepted_total',
    help: 'Connections accepted since start, by transport.',
    kind: 'counter',
    labelNames: ['transport'],
    read: (s) => [
      [{ transport: 'ws' }, s.acceptedWs],
      [{ transport: 'cong' }, s.acceptedCong],
      [{ transport: 'mqtt' }, s.acceptedMqtt],
    ],
  },
  {
    name: 'iosig_connections_refused_total',
    help: 'Connections refused at the door, by cap (global, per client address, sockets still opening in all or per address; primary_unavailable: --workers, the primary did not answer in time).',
    kind: 'counter',
    labelNames: ['cap'],
    read: (s) => [
      [{ cap: 'global' }, s.refusedGlobal],
      [{ cap: 'address' }, s.refusedAddress],
      [{ cap: 'primary_unavailable' }, s.refusedPrimaryUnavailable],
      [{ cap: 'handshakes' }, s.refusedHandshakes],
      [{ cap: 'handshakes_per_address' }, s.refusedHandshakesAddress],
      [{ cap: 'rate_ws' }, s.refusedRateWs],
      [{ cap: 'rate_cong' }, s.refusedRateCong],
      [{ cap: 'rate_mqtt' }, s.refusedRateMqtt],
    ],
  },
  {
    name: 'iosig_sockets_opening',
    help: 'Accepted sockets still opening: in their TLS handshake, or before their first frame or request head.',
    kind: 'gauge',
    read: single((s) => s.openingSockets),
  },
  {
    name: 'iosig_opening_timeouts_total',
    help: 'Sockets closed for missing an opening deadline: the TLS handshake, or the first frame / request head.',
    kind: 'counter',
    labelNames: ['stage'],
    read: (s) => [
      [{ stage: 'tls_handshake' }, s.handshakeTimeouts],
      [{ stage: 'first_message' }, s.openingTimeouts],
    ],
  },
  {
    name: 'iosig_listener_pauses_total',
    help: 'Times the WebSocket listeners stopped accepting because descriptors ran short.',
    kind: 'counter',
    read: single((s) => s.listenerPauses),
  },
  {
    name: 'iosig_listener_paused',
    help: '1 while the WebSocket listeners are paused for want of descriptors.',
    kind: 'gauge',
    read: single((s) => s.listenerPaused),
  },
  { name: 'iosig_online_cids', help: 'CIDs currently online.', kind: 'gauge', read: single((s) => s.onlineCids) },
  { name: 'iosig_subscriptions', help: 'Channel subscriptions over all connections.', kind: 'gauge', read: single((s) => s.subscriptions) },
  { name: 'iosig_channels', help: 'Channels with at least one subscriber.', kind: 'gauge', read: single((s) => s.channels) },
  {
    name: 'iosig_retained_signals',
    help: 'Retained signals, per channel or per CID.',
    kind: 'gauge',
    labelNames: ['scope'],
    read: (s) => [
      [{ scope: 'channel' }, s.retainedChannel],
      [{ scope: 'cid' }, s.retainedCid],
    ],
  },
  { name: 'iosig_messages_received_total', help: 'Protocol messages received.', kind: 'counter', read: single((s) => s.messagesIn) },
  { name: 'iosig_messages_sent_total', help: 'Protocol messages written to sockets.', kind: 'counter', read: single((s) => s.messagesOut) },
  { name: 'iosig_received_bytes_total', help: 'Message bytes received.', kind: 'counter', read: single((s) => s.bytesIn) },
  { name: 'iosig_sent_bytes_total', help: 'Message bytes written to sockets.', kind: 'counter', read: single((s) => s.bytesOut) },
  { name: 'iosig_publishes_total', help: 'Signals routed to a channel or CID.', kind: 'counter', read: single((s) => s.publishes) },
  {
    name: 'iosig_deliveries_total',
    help: 'Signal deliveries handed to a receiver\'s socket (dropped ones are in iosig_dropped_deliveries_total).',
    kind: 'counter',
    read: single((s) => s.deliveries),
  },
  {
    name: 'iosig_dropped_deliveries_total',
    help: 'Deliveries dropped because the receiver was over its backpressure limit.',
    kind: 'counter',
    read: single((s) => s.drops),
  },
  {
    name: 'iosig_slow_consumer_closes_total',
    help: 'Connections closed by the slow-consumer policy.',
    kind: 'counter',
    read: single((s) => s.slowConsumerCloses),
  },
  {
    name: 'iosig_slow_consumer_verdicts_total',
    help: 'Slow-consumer policy applications by reason: behind past the write deadline, over the hard cap, over the global budget.',
    kind: 'counter',
    labelNames: ['reason'],
    read: (s) => Object.entries(s.slowConsumerVerdicts).map(([reason, value]) => [{ reason }, value] as const),
  },
  {
    name: 'iosig_slow_consumers_behind',
    help: 'Receivers holding more than the soft backlog limit (--max-backpressure) right now.',
    kind: 'gauge',
    read: single((s) => s.slowConsumersBehind),
  },
  {
    name: 'iosig_backlog_bytes_behind',
    help: 'Bytes held by the receivers behind at the last check (bounded by --max-backlog-total).',
    kind: 'gauge',
    read: single((s) => s.backlogBytesBehind),
  },
  {
    name: 'iosig_logins_total',
    help: 'Logins by result; result="fail" counts authentication failures.',
    kind: 'counter',
    labelNames: ['result'],
    read: (s) => [
      [{ result: 'ok' }, s.authOk],
      [{ result: 'fail' }, s.authFail],
    ],
  },
  {
    name: 'iosig_login_failures_total',
    help: 'Refused logins by reason (throttled_* and pending_cap were refused without a key check).',
    kind: 'counter',
    labelNames: ['reason'],
    read: (s) => Object.entries(s.authFailByReason).map(([reason, value]) => [{ reason }, value] as const),
  },
  { name: 'iosig_quota_violations_total', help: 'Size or rate quota violations.', kind: 'counter', read: single((s) => s.quotaViolations) },
  {
    name: 'iosig_acl_denials_total',
    help: 'Requests the access rules refused, by right (subscribe, publish, retain, send, call).',
    kind: 'counter',
    labelNames: ['right'],
    read: (s) => Object.entries(s.aclDenials).map(([right, value]) => [{ right }, value] as const),
  },
  {
    name: 'iosig_acl_revoked_subscriptions_total',
    help: 'Live subscriptions ended because a rule change or a login made them unreadable for their session.',
    kind: 'counter',
    read: single((s) => s.aclRevokedSubscriptions),
  },
  { name: 'iosig_acl_rules', help: 'Access rules in force (-1: no ACL configured).', kind: 'gauge', read: single((s) => s.aclRules) },
  { name: 'iosig_acl_reloads_total', help: 'Rule sets put in force after the first (SIGHUP, file change, Redis).', kind: 'counter', read: single((s) => s.aclReloads) },
  { name: 'iosig_sessions_expired_total', help: 'Sessions ended at the expiry of their token or auth hook answer.', kind: 'counter', read: single((s) => s.sessionsExpired) },
  { name: 'iosig_over_size_total', help: 'Messages refused for their size.', kind: 'counter', read: single((s) => s.overSize) },
  { name: 'iosig_bad_messages_total', help: 'Malformed or refused messages.', kind: 'counter', read: single((s) => s.badMessages) },
  {
    name: 'iosig_plain_frames_built_total',
    help: 'Frames translated for plain WebSocket devices (one per publish and format, shared by every device).',
    kind: 'counter',
    read: single((s) => s.plainFramesBuilt),
  },
  { name: 'iosig_framing_errors_total', help: 'CongSocket framing errors.', kind: 'counter', read: single((s) => s.framingErrors) },
  {
    name: 'iosig_inbound_partial_bytes',
    help: 'Bytes held by the bodies of large CongSocket frames still arriving (--max-inbound-total).',
    kind: 'gauge',
    read: single((s) => s.inboundPartialBytes),
  },
  {
    name: 'iosig_inbound_refused_total',
    help: 'Large CongSocket frames refused over --max-inbound-total or an address share (their connections closed).',
    kind: 'counter',
    read: single((s) => s.inboundRefused),
  },
  { name: 'iosig_text_messages_total', help: 'WebSocket text frames received.', kind: 'counter', read: single((s) => s.textMessages) },
  { name: 'iosig_tls_refused_total', help: 'TLS handshakes that failed.', kind: 'counter', read: single((s) => s.tlsRefused) },
  { name: 'iosig_keepalive_timeouts_total', help: 'Connections closed by the keepalive sweep.', kind: 'counter', read: single((s) => s.timeouts) },
  {
    name: 'iosig_internal_errors_total',
    help: 'Unexpected errors in connection code; each closed that connection only (a bug: please report it).',
    kind: 'counter',
    read: single((s) => s.internalErrors),
  },
  {
    name: 'iosig_limit_refusals_total',
    help: 'Requests refused by a state cap: subscriptions per connection, channels, retained bytes and entries, and the per-address (or per-device) shares of channels and retained values.',
    kind: 'counter',
    labelNames: ['limit'],
    read: (s) => [
      [{ limit: 'subscriptions' }, s.refusedSubscriptions],
      [{ limit: 'channels' }, s.refusedChannels],
      [{ limit: 'retained_bytes' }, s.refusedRetained],
      [{ limit: 'retained_entries' }, s.refusedRetainedEntries],
      [{ limit: 'channel_share' }, s.refusedChannelShare],
      [{ limit: 'retained_share' }, s.refusedRetainedShare],
    ],
  },
  { name: 'iosig_retained_bytes', help: 'Bytes held by retained signals (channel and CID).', kind: 'gauge', read: single((s) => s.retainedBytes) },
  {
    name: 'iosig_event_loop_lag_seconds',
    help: 'Event-loop delay over the last 10 s window.',
    kind: 'gauge',
    labelNames: ['stat'],
    read: ({ eventLoopLag: lag }) => [
      [{ stat: 'mean' }, lag.meanSeconds],
      [{ stat: 'p99' }, lag.p99Seconds],
      [{ stat: 'max' }, lag.maxSeconds],
    ],
  },
  { name: 'process_resident_memory_bytes', help: 'Resident set size of the process.', kind: 'gauge', read: single((s) => s.rssBytes) },
  ...clusterDefinitions(),
  ...workersDefinitions(),
  ...mqttDefinitions(),
  ...durabilityDefinitions(),
];

/** Servers with an MQTT listener only (no readings otherwise). */
function mqttDefinitions(): MetricDefinition[] {
  const of = (read: (m: MqttSample) => number) => (s: MetricsSample): readonly Reading[] => (s.mqtt ? [[NO_LABELS, read(s.mqtt)]] : []);
  const gauge = (name: string, help: string, read: (m: MqttSample) => number): MetricDefinition => ({ name, help, kind: 'gauge', read: of(read) });
  const counter = (name: string, help: string, read: (m: MqttSample) => number): MetricDefinition => ({ name, help, kind: 'counter', read: of(read) });
  return [
    gauge('iosig_mqtt_connections', 'MQTT network connections open (TCP, TLS and WebSocket).', (m) => m.connections),
    gauge('iosig_mqtt_sessions', 'MQTT sessions held, connected or not.', (m) => m.sessions),
    gauge('iosig_mqtt_sessions_offline', 'MQTT sessions kept without a connection (persistent sessions within their expiry).', (m) => m.offlineSessions),
    gauge('iosig_mqtt_inflight', 'QoS 1/2 messages sent to MQTT clients and not yet acknowledged.', (m) => m.inflight),
    gauge('iosig_mqtt_queued', 'Messages queued for MQTT sessions (offline, or behind a full in-flight window).', (m) => m.queued),
    gauge('iosig_mqtt_queued_bytes', 'Payload bytes queued for MQTT sessions.', (m) => m.queuedBytes),
    gauge('iosig_mqtt_subscriptions', 'MQTT subscriptions (each shared-group member counts).', (m) => m.subscriptions),
    gauge('iosig_mqtt_retained', 'MQTT retained messages (iosig `$` channels are counted with the channel-retained ones).', (m) => m.retained),
    counter('iosig_mqtt_connections_accepted_total', 'MQTT clients admitted (CONNACK 0).', (m) => m.connectionsAccepted),
    counter('iosig_mqtt_connections_refused_total', 'MQTT CONNECTs refused.', (m) => m.connectionsRefused),
    counter('iosig_mqtt_publishes_total', 'PUBLISH packets received from MQTT clients.', (m) => m.publishesIn),
    counter('iosig_mqtt_deliveries_total', 'PUBLISH packets sent to MQTT clients.', (m) => m.deliveries),
    {
      name: 'iosig_mqtt_dropped_total',
      help: 'Deliveries to MQTT sessions not made, by cause: queue_full, too_large (over the client\'s Maximum Packet Size), expired, backlog (QoS 0 to a client that does not read), offline (QoS 0 to an offline session).',
      kind: 'counter',
      labelNames: ['reason'],
      read: ({ mqtt: m }) =>
        m
          ? [
              [{ reason: 'queue_full' }, m.droppedQueueFull],
              [{ reason: 'too_large' }, m.droppedTooLarge],
              [{ reason: 'expired' }, m.droppedExpired],
              [{ reason: 'backlog' }, m.droppedBacklog],
              [{ reason: 'offline' }, m.droppedOffline],
            ]
          : [],
    },
    counter('iosig_mqtt_protocol_errors_total', 'MQTT connections closed for a protocol error or a malformed packet.', (m) => m.protocolErrors),
    counter('iosig_mqtt_internal_errors_total', 'Unexpected errors in MQTT session code, contained by closing that connection.', (m) => m.internalErrors),
    counter('iosig_mqtt_takeovers_total', 'MQTT sessions taken over by a newer connection with the same client identifier.', (m) => m.takeovers),
    counter('iosig_mqtt_sessions_expired_total', 'MQTT sessions ended by their expiry.', (m) => m.sessionsExpired),
    counter('iosig_mqtt_sessions_evicted_total', 'Offline MQTT sessions ended over the offline-session bound.', (m) => m.sessionsEvicted),
    counter('iosig_mqtt_wills_published_total', 'MQTT Will Messages published.', (m) => m.willsPublished),
  ];
}

/** The store's and the histories' series (store/admin.ts names them), present only when kept. */
function durabilityDefinitions(): MetricDefinition[] {
  const zero = { kind: 'lmdb', location: '', sizeBytes: 0, writes: 0, writeBytes: 0, commits: 0, commitErrors: 0, pendingWrites: 0, pendingBytes: 0, deferredKeys: 0, droppedWrites: 0, flushLagSeconds: 0, slowestCommitSeconds: 0 } as const;
  const template = durabilitySeries({ store: zero, history: { channels: 0, entries: 0, bytes: 0, evicted: 0 } });
  return template.map(({ name, help, kind, labels }) => ({
    name,
    help,
    kind,
    ...(labels ? { labelNames: Object.keys(labels) } : {}),
    read: (s: MetricsSample): readonly Reading[] => {
      if (!s.durability) return [];
      const series = durabilitySeries(s.durability).find((one) => one.name === name);
      return series ? [[series.labels ?? NO_LABELS, series.value]] : [];
    },
  }));
}

/**
 * Workers of `io-server --workers` only: the supervisor's figures, told by the primary (which serves no HTTP).
 * Every worker shows the same host-wide values: aggregate them with max(), not sum().
 */
function workersDefinitions(): MetricDefinition[] {
  const of = (read: (w: WorkersSample) => number) => (s: MetricsSample): readonly Reading[] => (s.workers ? [[NO_LABELS, read(s.workers)]] : []);
  return [
    {
      name: 'iosig_workers',
      help: 'Worker processes of this host: wanted (--workers), up (serving), backing_off (waiting to be restarted after deaths in a row).',
      kind: 'gauge',
      labelNames: ['state'],
      read: ({ workers: w }) => (w ? [[{ state: 'wanted' }, w.wanted], [{ state: 'up' }, w.up], [{ state: 'backing_off' }, w.backingOff]] : []),
    },
    { name: 'iosig_worker_restarts_total', help: 'Dead workers restarted by the primary since it started.', kind: 'counter', read: of((w) => w.restarts) },
    {
      name: 'iosig_worker_restart_backoff_seconds',
      help: 'The longest back-off a dead worker slot is waiting out now (0: none).',
      kind: 'gauge',
      read: of((w) => w.backoffMs / 1000),
    },
  ];
}

/** Cluster nodes only (no readings on a single node): the bus, its losses and the interest tables. */
function clusterDefinitions(): MetricDefinition[] {
  const of = (read: (c: ClusterSample) => number) => (s: MetricsSample): readonly Reading[] => (s.cluster ? [[NO_LABELS, read(s.cluster)]] : []);
  return [
    { name: 'iosig_cluster_bus_up', help: '1 when Redis is reachable and every interest is subscribed.', kind: 'gauge', read: of((c) => (c.ready ? 1 : 0)) },
    {
      name: 'iosig_cluster_dropped_total',
      help: 'Cross-node messages this node did not send, by reason: down (Redis away), in_flight (over the in-flight bound), budget (over the node\'s bus budget), share (the publisher over its fair share of it), refused (Redis failed the publish).',
      kind: 'counter',
      labelNames: ['reason'],
      read: (s) => (s.cluster ? DROP_REASONS.map((reason): Reading => [{ reason }, s.cluster!.droppedBy[reason]]) : []),
    },
    {
      name: 'iosig_cluster_gaps_total',
      help: 'Data envelopes other nodes sent to this node that never arrived (gaps in their sequence numbers).',
      kind: 'counter',
      read: of((c) => c.gaps),
    },
    {
      name: 'iosig_cluster_bus_disconnects_total',
      help: 'Redis connections of the bus lost after they had been up: publish or subscribe (Redis cuts a subscriber that reads too slowly).',
      kind: 'counter',
      labelNames: ['link'],
      read: (s) => (s.cluster ? [[{ link: 'publish' }, s.cluster.disconnects.publish], [{ link: 'subscribe' }, s.cluster.disconnects.subscribe]] : []),
    },
    {
      name: 'iosig_cluster_envelopes_sent_total',
      help: 'Envelopes sent to Redis: data (publishes, unicasts, broadcasts) or control (interest, sync, probes).',
      kind: 'counter',
      labelNames: ['kind'],
      read: (s) => (s.cluster ? [[{ kind: 'data' }, s.cluster.published], [{ kind: 'control' }, s.cluster.controlSent]] : []),
    },
    {
      name: 'iosig_cluster_redis_deliveries_total',
      help: 'Node subscriptions Redis delivered this node\'s data envelopes to (own echo included).',
      kind: 'counter',
      read: of((c) => c.redisDeliveries),
    },
    {
      name: 'iosig_cluster_redis_messages_total',
      help: 'Redis messages carrying this node\'s data envelopes: in = PUBLISHes sent (envelopes of one turn to one channel travel as one), out = node subscriptions Redis delivered them to.',
      kind: 'counter',
      labelNames: ['direction'],
      read: (s) => (s.cluster ? [[{ direction: 'in' }, s.cluster.redisMessagesIn], [{ direction: 'out' }, s.cluster.redisMessagesOut]] : []),
    },
    { name: 'iosig_cluster_envelopes_received_total', help: 'Data envelopes received from other nodes.', kind: 'counter', read: of((c) => c.received) },
    { name: 'iosig_cluster_echoes_total', help: 'Own publishes that came back from Redis and were ignored.', kind: 'counter', read: of((c) => c.echoes) },
    { name: 'iosig_cluster_malformed_total', help: 'Envelopes that could not be read.', kind: 'counter', read: of((c) => c.malformed) },
    { name: 'iosig_cluster_resubscribes_total', help: 'Full resubscriptions after Redis came back.', kind: 'counter', read: of((c) => c.resubscribes) },
    { name: 'iosig_cluster_bus_lag_seconds', help: 'Last bus round trip through Redis.', kind: 'gauge', read: of((c) => Math.max(0, c.lagMs) / 1000) },
    {
      name: 'iosig_cluster_interests',
      help: 'Channel keys wanted by local clients (scope="local") or by other nodes (scope="remote").',
      kind: 'gauge',
      labelNames: ['scope'],
      read: (s) => (s.cluster ? [[{ scope: 'local' }, s.cluster.localInterests], [{ scope: 'remote' }, s.cluster.remoteKeys]] : []),
    },
    { name: 'iosig_cluster_nodes', help: 'Live nodes in the cluster.', kind: 'gauge', read: of((c) => c.totals.nodes) },
  ];
}

export class PrometheusExporter {
  private readonly registry = new Registry();
  /** Set for the duration of one scrape; the collect() callbacks read it. */
  private current: MetricsSample | null = null;
  private inFlight: Promise<string> | null = null;

  constructor(private readonly metrics: ServerMetrics) {
    // In a cluster every series carries the node it came from, so one Prometheus can scrape every node.
    const node = metrics.nodeId;
    if (node) this.registry.setDefaultLabels({ node });
    for (const definition of DEFINITIONS) this.register(definition);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The exposition text. Scrapes asked for while one is being written share it: one sample, one text. Overlapping
   * scrapes would also clear `current` under each other, and pipelined requests (up to 64 a turn per address)
   * would each pay for a whole text.
   */
  scrape(): Promise<string> {
    this.inFlight ??= this.scrapeOnce().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async scrapeOnce(): Promise<string> {
    this.current = this.metrics.sample();
    try {
      return await this.registry.metrics();
    } finally {
      this.current = null;
    }
  }

  private register(definition: MetricDefinition): void {
    const currentSample = (): MetricsSample | null => this.current;
    const config = { name: definition.name, help: definition.help, labelNames: definition.labelNames ?? [], registers: [this.registry] };
    if (definition.kind === 'gauge') {
      new Gauge({
        ...config,
        collect() {
          const sample = currentSample();
          if (!sample) return;
          for (const [labels, value] of definition.read(sample)) this.set(labels, value);
        },
      });
      return;
    }
    new Counter({
      ...config,
      collect() {
        const sample = currentSample();
        if (!sample) return;
        // prom-client counters only go up; the broker keeps the totals, so restate them on each scrape.
        this.reset();
        for (const [labels, value] of definition.read(sample)) this.inc(labels, value);
      },
    });
  }
}
