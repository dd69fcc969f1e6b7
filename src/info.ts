// What the broker tells observers (services, the HTTP layer, library users) about its connections and channels.
// Plain data, no behaviour: every layer may read it without importing the server.

/** The transport a connection came in on: WebSocket or CongSocket. */
export type TransportKind = 'ws' | 'cong';

/** What kind of device a connection is: an iosignal client, a plain WebSocket device, or an io-serial port. */
export type DeviceKind = 'iosignal' | 'plain' | 'serial';

export interface ConnectionInfo {
  ssid: number;
  cid: string;
  state: number;
  transport: TransportKind;
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

/** A published signal as observers see it (at most SIGNAL_TAP_BYTES of payload). */
export interface SignalInfo {
  time: number;
  /** Publisher's CID ('' before CID_REQ). */
  from: string;
  tag: string;
  payloadType: number;
  size: number;
  payload: Buffer;
}

export interface ChannelInfo {
  key: string;
  subscribers: number;
  retained: boolean;
}
