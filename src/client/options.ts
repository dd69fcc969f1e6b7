// Client options and their defaults.
import { MIN_FRAME_LIMIT } from '../protocol/codes.js';
import { splitIdKey } from '../crypto/keys.js';
import type { EncMode } from './events.js';
import type { TlsSettings } from './transport.js';

/** A device login: the key id and the key (§3.2). */
export interface Credentials {
  id: string;
  key: string;
}

/** Options for `new IoClient(url, options)`; every one has a default. */
export interface IoClientOptions {
  /** Log in at every connection: `"id.key"` or `{ id, key }` (§3.2). */
  auth?: string | Credentials;
  /** Encryption mode, default `auto` (§4.7). */
  encMode?: EncMode;
  /** Connect as soon as the client is made (default true). */
  autoConnect?: boolean;
  /** Reconnect after the connection is lost (default true). `close()` always stops for good. */
  reconnect?: boolean;
  /** First reconnect delay; it doubles after each failed attempt (default 500 ms). */
  reconnectDelayMs?: number;
  /** Longest reconnect delay (default 5000 ms). */
  reconnectMaxDelayMs?: number;
  /** Time limit for CALL, ECHO, IAM and PING answers (default 5000 ms). */
  callTimeoutMs?: number;
  /** Time limit for one connection attempt (default 10000 ms). */
  connectTimeoutMs?: number;
  /** Send a PING after this long without traffic (default 40000 ms, like the JS clients, §1.3). */
  keepaliveIdleMs?: number;
  /** How often the idle time is checked (default 3000 ms). */
  keepaliveCheckMs?: number;
  /** TLS settings for wss:// and congs://. */
  tls?: TlsSettings;
  /** Largest message accepted from the server (default 20 MiB + 64). */
  maxMessageSize?: number;
  /**
   * What kind of device this client bridges, shown by the server's status API and dashboard: `serial` for an
   * io-serial port (sent as the `X-Iosig-Device` header of a WebSocket upgrade). Default: none, an iosignal client.
   */
  device?: 'serial';
}

/** The options with every default filled in (`IoClient.options`). */
export interface ResolvedClientOptions {
  credentials: Credentials | undefined;
  encMode: EncMode;
  autoConnect: boolean;
  reconnect: boolean;
  reconnectDelayMs: number;
  reconnectMaxDelayMs: number;
  callTimeoutMs: number;
  connectTimeoutMs: number;
  keepaliveIdleMs: number;
  keepaliveCheckMs: number;
  tls: TlsSettings | undefined;
  maxMessageSize: number;
  device: 'serial' | undefined;
}

/** @internal `"id.key"` or `{ id, key }` → credentials; throws on a string without a dot or an empty part. */
export function toCredentials(auth: string | Credentials): Credentials {
  const credentials = typeof auth === 'string' ? splitIdKey(auth) : auth;
  if (!credentials || credentials.id === '' || credentials.key === '') {
    throw new TypeError('credentials must be "id.key" or { id, key } with a non-empty id and key');
  }
  return { id: credentials.id, key: credentials.key };
}

/** @internal */
export function resolveClientOptions(input: IoClientOptions): ResolvedClientOptions {
  return {
    credentials: input.auth === undefined ? undefined : toCredentials(input.auth),
    encMode: input.encMode ?? 'auto',
    autoConnect: input.autoConnect ?? true,
    reconnect: input.reconnect ?? true,
    reconnectDelayMs: Math.max(10, input.reconnectDelayMs ?? 500),
    reconnectMaxDelayMs: Math.max(10, input.reconnectMaxDelayMs ?? 5000),
    callTimeoutMs: Math.max(1, input.callTimeoutMs ?? 5000),
    connectTimeoutMs: Math.max(1, input.connectTimeoutMs ?? 10_000),
    keepaliveIdleMs: Math.max(1000, input.keepaliveIdleMs ?? 40_000),
    keepaliveCheckMs: Math.max(100, input.keepaliveCheckMs ?? 3000),
    tls: input.tls,
    maxMessageSize: input.maxMessageSize ?? MIN_FRAME_LIMIT,
    device: input.device,
  };
}

/** @internal Delay before reconnect attempt number `attempt` (0-based): doubling, capped. */
export function reconnectDelay(options: ResolvedClientOptions, attempt: number): number {
  return Math.min(options.reconnectMaxDelayMs, options.reconnectDelayMs * 2 ** Math.min(attempt, 20));
}
