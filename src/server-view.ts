// A running broker as the library shows it (`createServer` resolves with one): its ports, its numbers and lists,
// the events observers get, the server's own signals, services, key reloads, extra connections and closing. It
// reads; it lends no internals (the broker core is src/broker/).
import type { EventEmitter } from 'node:events';
import type { MetricsSnapshot } from './metrics/stats.js';
import type { Service } from './services/service.js';
import type { ChannelInfo, ConnectionInfo } from './info.js';
import type { MemoryEndpoint, MemoryLinkOptions } from './transport/memory.js';
import type { FrameSocket, PlainRequest } from './plain/request.js';
import type { Page } from './info.js';
import type { ReloadResult } from './auth/key-store.js';


/** A plain device's link on a socket of your own (`connectPlain`). */
export interface PlainDeviceLink {
  /** Hands the link one frame from the device (binary or text). */
  fromDevice(data: Uint8Array, isBinary: boolean): void;
  /** Set this when the socket has ended, then call `conn.linkClosed()` (as uWS would report it). */
  closed: boolean;
  /** The device's connection: its CID, and how its end is reported. */
  readonly conn: { readonly cid: string; linkClosed(): void } | null;
}

/** A published signal as observers see it (the 'signal' event, the dashboard's tail): at most 256 payload bytes. */
export interface SignalInfo {
  time: number;
  /** Publisher's CID ('' before CID_REQ). */
  from: string;
  tag: string;
  payloadType: number;
  size: number;
  payload: Buffer;
}

/** A running broker, as `createServer` resolves with it. */
export interface IosigServer {
  /** Resolves once every requested listener is bound (`createServer` waits for it). */
  readonly ready: Promise<void>;
  /** The bound WebSocket port (undefined without a WebSocket listener). */
  readonly wsPort: number | undefined;
  /** The bound CongSocket port (undefined without a CongSocket listener). */
  readonly congPort: number | undefined;
  /** The bound MQTT port (undefined without `mqttPort`). */
  readonly mqttPort: number | undefined;
  /**
   * 'connection' and 'disconnect' (ConnectionInfo), 'text_message' (ConnectionInfo, text: a WebSocket text
   * frame), 'signal' (SignalInfo: a published signal, for observers).
   */
  readonly events: EventEmitter;
  /** Counters and gauges: the numbers /metrics exports. */
  metrics(): MetricsSnapshot;
  /** Every connection, described. */
  connectionList(): ConnectionInfo[];
  /** Every channel and its subscriber count. */
  channelList(): ChannelInfo[];
  /** Up to `limit` connections with an ssid above `after` (0 = from the first), in ssid order. */
  connectionPage(after: number, limit: number): Page<ConnectionInfo, number>;
  /** Up to `limit` channels with a key above `after` (null = from the first), in key order. */
  channelPage(after: string | null, limit: number): Page<ChannelInfo, string>;
  /**
   * A SIGNAL from the server: to a channel (`name`), one device (`cid@topic`, delivered as `@topic`), or
   * with `everyone`, to every connection as is. Returns the number of receivers.
   */
  sendSignal(tag: string, payloadType: number, payload: Uint8Array, everyone?: boolean): number;
  /** SERVER_SIGNAL (§3.10): `{"event", "data"}` to every connection. Returns the number of receivers. */
  sendServerSignal(event: string, data: unknown): number;
  /** @deprecated The old name of sendServerSignal (SERVER_SIGNAL, not SIGNAL: see sendSignal). */
  signal(event: string, data: unknown): void;
  /** Attaches an RPC service under its name (§7.3). */
  attach(service: Service): void;
  /**
   * Re-reads a file key store (SIGHUP) and ends sessions it no longer admits; null when the store has nothing to
   * re-read (other stores are live already). A failed reload keeps the previous keys and says why.
   */
  reloadKeys(): Promise<ReloadResult | null>;
  /** Checks every logged-in session against the key store now (after an outside change to it). */
  revalidateSessions(): Promise<void>;
  /**
   * Reads the `access.aclFile` rules again (what SIGHUP does): true when the new rules are in force (live sessions
   * lose the subscriptions they deny, with a notice), false when they were refused whole (the rules in force stay;
   * the log names the lines at fault), null without an ACL file.
   */
  reloadAccess(): Promise<boolean | null>;
  /**
   * A connection over an in-memory link (no socket): the returned endpoint sends and receives whole messages.
   * The connection, the router and the delivery groups behave as with a real socket of that flavour.
   */
  connectInMemory(opts?: MemoryLinkOptions): MemoryEndpoint;
  /** A plain device (the /plain/ endpoint) on a socket of your own (tests, embedding). */
  connectPlain(socket: FrameSocket, request: PlainRequest, peerIp?: string): PlainDeviceLink;
  /** Closes the listeners and every connection. */
  close(): Promise<void>;
}
