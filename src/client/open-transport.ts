// Picks the transport for an address; kept apart from transport.ts so the transports import it without a circle.
import { openCongTransport } from './cong-transport.js';
import type { Transport, TransportHandlers, TransportOptions } from './transport.js';
import type { ServerAddress } from './url.js';
import { openWsTransport } from './ws-transport.js';

/** @internal */
export function openTransport(address: ServerAddress, handlers: TransportHandlers, options: TransportOptions): Transport {
  return address.kind === 'ws' ? openWsTransport(address, handlers, options) : openCongTransport(address, handlers, options);
}
