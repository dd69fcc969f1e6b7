// One registry of the broker's numbers: the Prometheus exporter, the status API, the dashboard and the
// `-m` console tables all read the same sample. Taking a sample reads counters; it never adds hot-path work.
import type { ConnectionCounts, MetricsSample, MetricsSnapshot } from './stats.js';
import type { ClusterSample } from './cluster-sample.js';
import type { MqttSample } from './mqtt-sample.js';
import type { WorkersSample } from '../workers/workers-sample.js';
import { EventLoopLag } from './event-loop-lag.js';
import type { DurabilitySample } from './durability-sample.js';

/** What a sample needs from the server: its counters and a walk over live connections. */
export interface MetricsSource {
  metrics(): MetricsSnapshot;
  readonly connections: Iterable<{ readonly transport: 'ws' | 'cong'; readonly authorized: boolean }>;
  /** Cluster nodes only. */
  clusterSample?(): ClusterSample | null;
  /** Workers of `io-server --workers` only: the supervisor's figures. */
  workersSample?(): WorkersSample | null;
  /** Servers with an MQTT listener only. */
  mqttSample?(): MqttSample | null;
  /** The durable store and the histories, when kept. */
  durabilityFigures?(): DurabilitySample | null;
}

export class ServerMetrics {
  private readonly lag = new EventLoopLag();

  constructor(private readonly source: MetricsSource) {}

  /** The cluster node id, or null on a single node (the Prometheus `node` label). */
  get nodeId(): string | null {
    return this.source.clusterSample?.()?.node ?? null;
  }

  sample(): MetricsSample {
    return {
      ...this.source.metrics(),
      time: Date.now(),
      connectionsByState: this.countConnections(),
      eventLoopLag: this.lag.stats(),
      rssBytes: process.memoryUsage.rss(),
      cluster: this.source.clusterSample?.() ?? null,
      workers: this.source.workersSample?.() ?? null,
      mqtt: this.source.mqttSample?.() ?? null,
      durability: this.source.durabilityFigures?.() ?? null,
    };
  }

  private countConnections(): ConnectionCounts {
    const counts: ConnectionCounts = { wsAuthorized: 0, wsAnonymous: 0, congAuthorized: 0, congAnonymous: 0 };
    for (const conn of this.source.connections) {
      if (conn.transport === 'ws') {
        if (conn.authorized) counts.wsAuthorized++;
        else counts.wsAnonymous++;
      } else if (conn.authorized) counts.congAuthorized++;
      else counts.congAnonymous++;
    }
    return counts;
  }

  close(): void {
    this.lag.close();
  }
}
