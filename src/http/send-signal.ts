// The dashboard's send form: checks a SendRequest and turns it into one server signal.
import { PAYLOAD } from '../protocol/codes.js';
import { MAX_JSON_DEPTH, jsonDepthWithin } from '../protocol/json-depth.js';
import type { SendRequest, SendResponse, SendTarget, SendPayloadKind } from './dashboard-types.js';

export interface SignalSender {
  sendSignal(tag: string, payloadType: number, payload: Uint8Array, everyone?: boolean): number;
}

export interface PreparedSignal {
  tag: string;
  everyone: boolean;
  payloadType: number;
  payload: Buffer;
}

export class SendError extends Error {}

const TARGETS: readonly SendTarget[] = ['channel', 'cid', 'everyone'];
const KINDS: readonly SendPayloadKind[] = ['text', 'json'];
const MAX_TAG_BYTES = 255;

function field(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (value === undefined) return '';
  if (typeof value !== 'string') throw new SendError(`${name} must be a string`);
  return value.trim();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseSendRequest(body: unknown): SendRequest {
  if (!isRecord(body)) throw new SendError('expected a JSON object');
  const target = body.target;
  const payloadKind = body.payloadKind ?? 'text';
  if (!TARGETS.includes(target as SendTarget)) throw new SendError('target must be channel, cid or everyone');
  if (!KINDS.includes(payloadKind as SendPayloadKind)) throw new SendError('payloadKind must be text or json');
  const payload = body.payload ?? '';
  if (typeof payload !== 'string') throw new SendError('payload must be a string');
  return {
    target: target as SendTarget,
    payloadKind: payloadKind as SendPayloadKind,
    payload,
    tag: field(body, 'tag'),
    cid: field(body, 'cid'),
    topic: field(body, 'topic'),
  };
}

function tagOf(request: SendRequest): string {
  const tag = request.tag ?? '';
  switch (request.target) {
    case 'channel':
      if (tag === '' || /[@#]/.test(tag)) throw new SendError('a channel name is needed, without @ or #');
      return tag;
    case 'cid':
      if (!request.cid || request.cid.includes('@')) throw new SendError('a CID is needed, without @');
      if (!request.topic) throw new SendError('a topic is needed for a CID');
      return `${request.cid}@${request.topic}`;
    case 'everyone':
      if (tag === '') throw new SendError('a tag is needed');
      return tag;
  }
}

export function prepareSignal(request: SendRequest): PreparedSignal {
  const tag = tagOf(request);
  if (Buffer.byteLength(tag) > MAX_TAG_BYTES) throw new SendError(`the tag is over ${MAX_TAG_BYTES} bytes`);
  if (request.payloadKind === 'json') {
    const payload = Buffer.from(request.payload);
    // The bound every JSON iosig reads obeys (README, Security): deeper values are refused, not parsed.
    if (!jsonDepthWithin(payload)) throw new SendError(`the payload is nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`);
    try {
      JSON.parse(request.payload);
    } catch {
      throw new SendError('the payload is not valid JSON');
    }
    return { tag, everyone: request.target === 'everyone', payloadType: PAYLOAD.OBJECT, payload };
  }
  // Devices read TEXT as a C string, hence the trailing NUL (as the JS clients send it).
  return { tag, everyone: request.target === 'everyone', payloadType: PAYLOAD.TEXT, payload: Buffer.from(`${request.payload}\0`) };
}

export function sendPrepared(sender: SignalSender, signal: PreparedSignal): SendResponse {
  return { receivers: sender.sendSignal(signal.tag, signal.payloadType, signal.payload, signal.everyone) };
}
