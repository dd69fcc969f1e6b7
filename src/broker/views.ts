// What observers read of the broker — the HTTP layer (BrokerView: /metrics, /api/status, the live feed and the
// dashboard), the library's metrics() and lists, the console tables: one snapshot of the numbers, each read from
// its one home, and pages of sessions and channels. It reads; the one thing it does is send a signal.
import type { DurabilityFigures } from '../store/admin.js';
import type { EventEmitter } from 'node:events';
import type { BrokerView } from '../http/broker-view.js';
import { pageByKey, firstOf, type Page } from '../http/paging.js';
import type { ChannelInfo, ConnectionInfo } from '../info.js';
import type { ClusterSample } from '../metrics/cluster-sample.js';
import type { MqttSample } from '../metrics/mqtt-sample.js';

/** What the views read of the MQTT side (mqtt/front.ts). */
export interface MqttSide {
  sample(): MqttSample;
  describeConnections(limit: number): ConnectionInfo[];
}
import { ServerMetrics } from '../metrics/sample.js';
import type { MetricsSnapshot, TrafficCounters } from '../metrics/stats.js';
import type { ServerOptions } from '../options.js';
import type { WorkersSample } from '../workers/workers-sample.js';
import type { Connection } from '../connection/connection.js';
import type { Broker } from './broker.js';
import { describeChannel } from './describe.js';

export class BrokerViews implements BrokerView {
  private metricsSampler: ServerMetrics | null = null;

  constructor(
    private readonly broker: Broker,
    /** 1 while the descriptor guard holds the uWS listeners closed (the server's). */
    private readonly listenerPaused: () => boolean,
    /** The MQTT side's figures and connections (null without an MQTT listener). */
    private readonly mqtt: () => MqttSide | null = () => null,
  ) {}

  mqttSample(): MqttSample | null {
    return this.mqtt()?.sample() ?? null;
  }

  get options(): ServerOptions {
    return this.broker.options;
  }

  get events(): EventEmitter {
    return this.broker.events;
  }

  get connections(): Iterable<Connection> {
    return this.broker.registry.sessions;
  }

  /** Traffic totals, read by the dashboard's chart once a second. */
  get traffic(): TrafficCounters {
    return this.broker.stats;
  }

  /**
   * The one registry sample that Prometheus, the status API, the dashboard and the `-m` tables read.
   * Made on first use, so a server without HTTP or tables runs no event-loop-lag sampling.
   */
  get sampler(): ServerMetrics {
    return (this.metricsSampler ??= new ServerMetrics(this));
  }

  metrics(): MetricsSnapshot {
    const { stats, router, registry, watch, door } = this.broker;
    let ws = 0;
    for (const conn of registry.sessions) if (conn.transport === 'ws') ws++;
    return {
      ...stats,
      slowConsumersBehind: watch.behind,
      backlogBytesBehind: watch.backlogBytes,
      slowConsumerVerdicts: { ...watch.verdicts },
      lastSsid: registry.latestSsid,
      connections: registry.size,
      connectionsWs: ws,
      connectionsCong: registry.size - ws,
      channels: router.channels.size,
      subscriptions: router.subscriptionCount(),
      retainedChannel: router.retained.size,
      retainedCid: router.cidRetainedCount(),
      retainedBytes: router.retainedBytes,
      onlineCids: router.cids.size,
      openingSockets: door.openingCount,
      listenerPaused: this.listenerPaused() ? 1 : 0,
    };
  }

  clusterSample(): ClusterSample | null {
    return this.broker.clusterSample();
  }

  /** The durable store and the histories (null when neither is kept). */
  durabilityFigures(): DurabilityFigures | null {
    return this.broker.durability.figures();
  }

  /** The supervisor's figures under --workers (null otherwise). */
  workersSample(): WorkersSample | null {
    return this.broker.options.primary?.sample() ?? null;
  }

  /** Every connection, the MQTT side's too. */
  connectionList(): ConnectionInfo[] {
    const list = this.broker.connectionList();
    const mqtt = this.mqtt();
    if (mqtt) list.push(...mqtt.describeConnections(Number.MAX_SAFE_INTEGER));
    return list;
  }

  /** Up to `limit` connections with an ssid above `after` (0 = from the first), in ssid order. */
  connectionPage(after: number, limit: number): Page<ConnectionInfo, number> {
    const page = this.broker.registry.page(after, limit, this.broker.describe);
    const mqtt = this.mqtt();
    if (!mqtt) return page;
    // MQTT connections take their ssids from the same sequence: merged in order, and only up to the last iosig
    // session of this page when more of those follow (the rest come with the next page).
    const last = page.items.at(-1)?.ssid ?? Number.POSITIVE_INFINITY;
    const extra = mqtt.describeConnections(Number.MAX_SAFE_INTEGER).filter((c) => c.ssid > after && (page.next === null || c.ssid < last));
    if (extra.length === 0) return page;
    const merged = [...page.items, ...extra].sort((a, b) => a.ssid - b.ssid);
    const items = merged.slice(0, limit);
    const more = merged.length > limit || page.next !== null;
    return { items, next: more ? items.at(-1)!.ssid : null };
  }

  /** Up to `limit` channels with a key above `after` (null = from the first), in key order. */
  channelPage(after: string | null, limit: number): Page<ChannelInfo, string> {
    const { router } = this.broker;
    return pageByKey(router.channels, after, limit, (key, channel) => describeChannel(router, key, channel.size));
  }

  /** The first `limit` connections and channels in no particular order, walking nothing else (live views). */
  firstConnections(limit: number): ConnectionInfo[] {
    const list = this.broker.registry.first(limit, this.broker.describe);
    const mqtt = this.mqtt();
    if (mqtt && list.length < limit) list.push(...mqtt.describeConnections(limit - list.length));
    return list;
  }

  firstChannels(limit: number): ChannelInfo[] {
    const { router } = this.broker;
    return firstOf(router.channels.values(), limit, (channel) => describeChannel(router, channel.key, channel.size));
  }

  dashboardMay(tag: string, everyone: boolean, peer: { peerIp: string; forwardedFor?: string | undefined }): boolean {
    const { access, door } = this.broker;
    return access?.dashboardMay(tag, everyone, door.ipOf(peer)) ?? true;
  }

  sendSignal(tag: string, payloadType: number, payload: Uint8Array, everyone = false): number {
    return this.broker.sendSignal(tag, payloadType, payload, everyone);
  }

  close(): void {
    this.metricsSampler?.close();
    this.metricsSampler = null;
  }
}
