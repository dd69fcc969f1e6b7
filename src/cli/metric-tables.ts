// The live metric tables of `io-server -m <1|2|3>` (docs/protocol.md §9.2).
import type { MetricsSnapshot } from '../metrics/stats.js';
import { escapeControl } from '../logging/escape.js';

export type MetricType = 1 | 2 | 3;

export const METRIC_DESCRIPTIONS: Readonly<Record<MetricType, string>> = {
  1: 'process memory and traffic',
  2: 'connections',
  3: 'channels',
};

/** How often the tables are printed. */
export const METRIC_PERIOD_MS = 5_000;
/** The byte counters of table 1 cover the current window of this length. */
export const TRAFFIC_WINDOW_MS = 10_000;

export type TrafficSnapshot = Pick<MetricsSnapshot, 'lastSsid' | 'connections' | 'channels' | 'bytesIn' | 'bytesOut'>;

export interface TrafficRow {
  lastSSID: number;
  remotes: number;
  channels: number;
  txBytes: number;
  rxBytes: number;
}

/**
 * Turns the server's cumulative byte counters into per-window values. Each sample reports the bytes since
 * the window began; once a window is (about) `windowMs` old, the next one starts at that sample.
 */
export class TrafficWindow {
  private startedAt: number;
  private baseIn: number;
  private baseOut: number;

  constructor(
    first: Pick<TrafficSnapshot, 'bytesIn' | 'bytesOut'>,
    now: number,
    private readonly windowMs = TRAFFIC_WINDOW_MS,
  ) {
    this.startedAt = now;
    this.baseIn = first.bytesIn;
    this.baseOut = first.bytesOut;
  }

  sample(snapshot: TrafficSnapshot, now: number): TrafficRow {
    const row: TrafficRow = {
      lastSSID: snapshot.lastSsid,
      remotes: snapshot.connections,
      channels: snapshot.channels,
      txBytes: Math.max(0, snapshot.bytesOut - this.baseOut),
      rxBytes: Math.max(0, snapshot.bytesIn - this.baseIn),
    };
    // Timers drift a little; a window that is within a tenth of its length of the end counts as complete.
    if (now - this.startedAt >= this.windowMs * 0.9) {
      this.startedAt = now;
      this.baseIn = snapshot.bytesIn;
      this.baseOut = snapshot.bytesOut;
    }
    return row;
  }
}

export interface MemoryRow {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export function memoryRow(usage: NodeJS.MemoryUsage = process.memoryUsage()): MemoryRow {
  return {
    rss: usage.rss,
    heapTotal: usage.heapTotal,
    heapUsed: usage.heapUsed,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
  };
}

export interface ConnectionLike {
  ssid: number;
  cid: string;
  state: number;
}

/** `#<ssid>:<cid>(<state>)`, one entry per connection (table 2). */
export function connectionEntries(list: readonly ConnectionLike[]): string[] {
  return list.map((c) => `#${c.ssid}:${escapeControl(c.cid)}(${c.state})`);
}

/** Channel keys (table 3). */
export function channelEntries(list: readonly { key: string }[]): string[] {
  return list.map((c) => escapeControl(c.key));
}
