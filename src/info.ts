// What the broker tells observers (services, the HTTP layer, library users) about its connections and channels.
// Plain data, no behaviour: every layer may read it without importing the server.

/** The transport a connection came in on: WebSocket or CongSocket. */
export type TransportKind = 'ws' | 'cong';

/** What kind of device a connection is: an iosignal client, a plain WebSocket device, an io-serial port, or an MQTT client. */
export type DeviceKind = 'iosignal' | 'plain' | 'serial' | 'mqtt';

/** One connection as observers see it (status API, dashboard, sudo, the library's lists and events). */
export interface ConnectionInfo {
  ssid: number;
  cid: string;
  state: number;
  /** `mqtt`: the MQTT listener (`-M`); MQTT over WebSocket shows `ws` with kind `mqtt`. */
  transport: TransportKind | 'mqtt';
  kind: DeviceKind;
  ip: string;
  nick: string;
  did: string;
  level: number;
  uid: string;
  tls: boolean;
  authorized: boolean;
  admin: boolean;
  quotaViolations: number;
  retained: number;
  uptimeMs: number;
  /** The first 100 channels it subscribes to (`channelCount` has them all). */
  channels: string[];
  channelCount: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
}

/** One channel: its key, its local subscribers, and whether it holds a retained signal. */
export interface ChannelInfo {
  key: string;
  subscribers: number;
  retained: boolean;
}

/** One page of a list (connections by ssid, channels by key), and the cursor of the next one. */
export interface Page<T, C> {
  items: T[];
  /** Pass back to get the next page; null on the last page. */
  next: C | null;
}

/** Why a login failed, as counted in `iosig_login_failures_total{reason}`. */
export const LOGIN_FAILURE_REASONS = [
  'malformed',
  'no_key_store',
  'store_error',
  'unknown_id',
  'bad_record',
  'wrong_key',
  'duplicate',
  'throttled_address',
  'throttled_device',
  'pending_cap',
  'cleartext',
  'primary_unavailable',
  'jwt',
  'hook',
] as const;
/** One of LOGIN_FAILURE_REASONS. */
export type LoginFailureReason = (typeof LOGIN_FAILURE_REASONS)[number];
