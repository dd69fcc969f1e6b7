// The option fields sessions read, taken from the server's options once and frozen: a session never sees
// ServerOptions (connection/port.ts).
import type { SessionPolicy } from '../connection/port.js';
import type { ServerOptions } from '../options.js';

export function sessionPolicy(options: ServerOptions): SessionPolicy {
  return Object.freeze({
    defaultQuotaLevel: options.defaultQuotaLevel,
    adminLevel: options.adminLevel,
    showMessages: options.showMessage === 'message',
    useQuota: Object.freeze({ ...options.useQuota }),
    // The wait is the broker's doing, not the peer's: the bound is what a receiver may hold, plus one message.
    sealWaitLimit: options.maxBackpressure + options.maxMessageSize,
    authFailDelay: options.authFailDelay,
    allowCleartextBearer: options.allowCleartextBearer,
  });
}
