// What the HTTP layer (metrics, status API, live feed, dashboard, send API) may read of the broker — and the one
// thing it may do, send a signal. The server implements it; http/ never imports the server.
import type { EventEmitter } from 'node:events';
import type { ServerOptions } from '../options.js';
import type { ChannelInfo, ConnectionInfo } from '../info.js';
import type { MetricsSource } from '../metrics/sample.js';
import type { TrafficCounters } from '../metrics/traffic-history.js';

export interface BrokerView extends MetricsSource {
  readonly options: ServerOptions;
  /** Traffic totals for the dashboard's chart. */
  readonly traffic: TrafficCounters;
  /** 'connection', 'disconnect', 'text_message', 'signal' (see IosigServer.events). */
  readonly events: EventEmitter;
  connectionList(): ConnectionInfo[];
  channelList(): ChannelInfo[];
  /** A SIGNAL from the server (see IosigServer.sendSignal); returns the number of receivers. */
  sendSignal(tag: string, payloadType: number, payload: Uint8Array, everyone?: boolean): number;
}
