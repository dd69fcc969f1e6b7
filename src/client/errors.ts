// Errors the client rejects promises with; each names what went wrong so callers can branch on the class.
import type { MbpValue } from '../protocol/mbp.js';
import type { CallResult } from './events.js';

/** A CALL answered with a failure status (≥ 128, §7.2). */
export class CallError extends Error {
  constructor(
    readonly target: string,
    readonly topic: string,
    readonly status: number,
    readonly body: MbpValue | undefined,
  ) {
    super(`call ${target}.${topic} failed with status ${status}${body === undefined ? '' : `: ${typeof body === 'string' ? body : JSON.stringify(body)}`}`);
    this.name = 'CallError';
  }
}

/** No answer within the time limit (a CALL, ECHO, IAM or PING). */
export class ReplyTimeoutError extends Error {
  constructor(what: string, readonly timeoutMs: number) {
    super(`no answer to ${what} within ${timeoutMs} ms`);
    this.name = 'ReplyTimeoutError';
  }
}

/** The connection closed (or was never ready) while a request waited for its answer. */
export class NotConnectedError extends Error {
  constructor(what: string) {
    super(`${what}: not connected`);
    this.name = 'NotConnectedError';
  }
}

/** @internal Carries a failed RESPONSE_MBP to the waiting call, which turns it into a CallError naming the call. */
export class FailedCall extends Error {
  constructor(readonly result: CallResult) {
    super(`call failed with status ${result.status}`);
  }
}
