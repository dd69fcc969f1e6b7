// Reading CALL arguments the way the built-in services need them (args are already cut at the first falsy one, Q10).
import type { MbpValue } from '../protocol/mbp.js';
import { STATUS } from '../protocol/codes.js';
import type { ServiceReply } from './service.js';

/** A text argument: strings as they are, numbers in decimal, bytes as UTF-8; anything else is not text. */
export function textArg(value: MbpValue | undefined): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return null;
}

/** A failed reply carrying a message for the caller. */
export function failure(message: string): ServiceReply {
  return { status: STATUS.ERROR, body: message };
}

/** A successful reply; a falsy body is left out on the wire anyway (Q11). */
export function success(body?: unknown): ServiceReply {
  return body === undefined ? { status: STATUS.OK } : { status: STATUS.OK, body };
}
