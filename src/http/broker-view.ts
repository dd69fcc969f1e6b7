// What the HTTP layer (metrics, status API, live feed, dashboard, send API) may read of the broker — and the one
// thing it may do, send a signal. The server implements it; http/ never imports the server.
import type { EventEmitter } from 'node:events';
import type { ServerOptions } from '../options.js';
import type { ChannelInfo, ConnectionInfo } from '../info.js';
import type { MetricsSource } from '../metrics/sample.js';
import type { TrafficCounters } from '../metrics/stats.js';
import type { Page } from './paging.js';

export interface BrokerView extends MetricsSource {
  readonly options: ServerOptions;
  /** Traffic totals for the dashboard's chart. */
  readonly traffic: TrafficCounters;
  /** 'connection', 'disconnect', 'text_message', 'signal' (see IosigServer.events). */
  readonly events: EventEmitter;
  /** Up to `limit` connections with an ssid above `after`, in ssid order (the status API's pages). */
  connectionPage(after: number, limit: number): Page<ConnectionInfo, number>;
  /** Up to `limit` channels with a key above `after` (null = from the first), in key order. */
  channelPage(after: string | null, limit: number): Page<ChannelInfo, string>;
  /** The first `limit` of each, walking nothing else (live views). */
  firstConnections(limit: number): ConnectionInfo[];
  firstChannels(limit: number): ChannelInfo[];
  /** A SIGNAL from the server (see IosigServer.sendSignal); returns the number of receivers. */
  sendSignal(tag: string, payloadType: number, payload: Uint8Array, everyone?: boolean): number;
  /**
   * Whether the access rules let the dashboard's send form (subject `dashboard`, from this peer: its address, and
   * what a trusted proxy says it forwarded) send this.
   */
  dashboardMay(tag: string, everyone: boolean, peer: { peerIp: string; forwardedFor?: string | undefined }): boolean;
}
