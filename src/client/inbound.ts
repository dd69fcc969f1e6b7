// Readers for the server messages that carry a body the client must check (docs/protocol.md §3.8, §3.10, §7.2):
// each takes the bytes and returns plain values, so the session decides what to do with them.
import type { MbpValue } from '../protocol/mbp.js';
import { decodeResponseMbp } from '../protocol/rpc.js';
import { parseJsonWithin } from '../protocol/json-depth.js';
import type { CallResult, IamInfo } from './events.js';

function isIamInfo(value: unknown): value is IamInfo {
  if (typeof value !== 'object' || value === null) return false;
  const info = value as Record<string, unknown>;
  return typeof info.cid === 'string' && typeof info.ssid === 'number';
}

/**
 * @internal IAM_RES: the info, null when the JSON is not an IAM_RES object, 'not-json' when it does not parse
 * (or nests deeper than MAX_JSON_DEPTH).
 */
export function readIamRes(message: Buffer): IamInfo | null | 'not-json' {
  const info = parseJsonWithin(message.subarray(1));
  if (info === undefined) return 'not-json';
  return isIamInfo(info) ? info : null;
}

/** @internal */
export interface CallResponse {
  ok: boolean;
  result: CallResult;
}

/** @internal RESPONSE_MBP: status < 128 is success (§7.2); null when the message does not decode. */
export function readCallResponse(message: Buffer): CallResponse | null {
  const response = decodeResponseMbp(message);
  if (!response) return null;
  const result: CallResult =
    response.body === undefined ? { status: response.status, mid: response.mid } : { status: response.status, mid: response.mid, body: response.body };
  return { ok: response.status < 128, result };
}

/**
 * @internal SERVER_SIGNAL: the JS client only acts on {event: string, data: truthy} (§3.10); null otherwise
 * (also for JSON nested deeper than MAX_JSON_DEPTH).
 */
export function readServerSignal(message: Buffer): { event: string; data: MbpValue } | null {
  const parsed = parseJsonWithin(message.subarray(1));
  if (typeof parsed !== 'object' || parsed === null) return null;
  const { event, data } = parsed as { event?: unknown; data?: unknown };
  return typeof event === 'string' && data ? { event, data: data as MbpValue } : null;
}
