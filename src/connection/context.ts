// What a connection may reach of the broker around it.
import type { ServerOptions } from '../options.js';
import type { Counters } from '../metrics/counters.js';
import type { Router } from '../router/router.js';
import type { ProxyTrust } from './address.js';
import type { Connection } from './connection.js';

export interface BrokerContext {
  readonly options: ServerOptions;
  readonly counters: Counters;
  readonly router: Router;
  readonly proxyTrust: ProxyTrust;
  nextSsid(): number;
  /** Operational log (connection errors, closes with reasons). */
  log(line: string): void;
  emit(event: 'text_message', conn: Connection, text: string): void;
  connectionClosed(conn: Connection): void;
}
