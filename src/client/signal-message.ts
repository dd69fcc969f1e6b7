// Turns a received SIGNAL / SIGNAL_E2E into what listeners get (docs/protocol.md §5.2).
import { MSG, PAYLOAD } from '../protocol/codes.js';
import { decodeSignalPayload, parseSignal } from '../protocol/payload.js';
import type { PayloadTypeName, SignalMessage } from './events.js';

const PAYLOAD_NAMES = new Map<number, PayloadTypeName>(
  (Object.keys(PAYLOAD) as Array<keyof typeof PAYLOAD>).map((name) => [PAYLOAD[name], name]),
);

/** @internal */
export function payloadTypeName(payloadType: number): PayloadTypeName {
  return PAYLOAD_NAMES.get(payloadType) ?? 'UNKNOWN';
}

/** @internal The signal in `msg`, or null when it is malformed (too short, tag not UTF-8). */
export function toSignalMessage(msg: Uint8Array): SignalMessage | null {
  const parsed = parseSignal(msg);
  if (!parsed) return null;
  const payload = Buffer.from(parsed.payload);
  const values = decodeSignalPayload(parsed.payloadType, payload);
  return {
    tag: parsed.tag,
    unicast: parsed.tag.startsWith('@'),
    e2e: parsed.type === MSG.SIGNAL_E2E,
    payloadType: parsed.payloadType,
    payloadTypeName: payloadTypeName(parsed.payloadType),
    values: values ?? [payload],
    decoded: values !== null,
    payload,
  };
}
