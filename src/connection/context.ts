// What a connection may reach of the broker around it.
import type { ServerOptions } from '../options.js';
import type { Counters } from '../metrics/counters.js';
import type { Router } from '../router/router.js';
import type { ProxyTrust } from './address.js';
import type { Connection } from './connection.js';
import type { KeyStore } from '../auth/key-store.js';
import type { ServiceRegistry } from '../services/registry.js';
import type { ServiceHost } from '../services/service.js';
import type { LoginFailureReason, LoginGuard } from './login-guard.js';

export interface BrokerContext {
  readonly options: ServerOptions;
  readonly counters: Counters;
  readonly router: Router<Connection>;
  readonly proxyTrust: ProxyTrust;
  /** Device keys; null when authentication is off. */
  readonly keyStore: KeyStore | null;
  readonly services: ServiceRegistry;
  /** Brute-force throttle every AUTH_REQ passes before its key is checked. */
  readonly loginGuard: LoginGuard;
  readonly serviceHost: ServiceHost;
  nextSsid(): number;
  /** Operational log (connection errors, closes with reasons). */
  log(line: string): void;
  emit(event: 'text_message', conn: Connection, text: string): void;
  connectionClosed(conn: Connection): void;
  /** Observers of published signals (dashboard tail); a no-op unless someone listens. */
  tapSignal(conn: Connection, tag: string, msg: Uint8Array): void;
  /** One login outcome for the auth log (never the key). */
  authLog(conn: Connection, ok: boolean, reason: string, code?: LoginFailureReason): void;
  /** Garbage received before the connection had a CID. */
  attackLog(conn: Connection, reason: string, bytes: Uint8Array): void;
}
