// The `-s message` log line for one received message (docs/protocol.md §9.2).
import { msgName } from '../protocol/codes.js';

const SHOWN_BYTES = 20;
/** Characters of a text frame shown: a 20 MiB frame is not a 20 MiB log line. */
export const SHOWN_TEXT = 100;

function hexBytes(msg: Uint8Array, count: number): string {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(msg[i]!.toString(16).padStart(2, '0'));
  return parts.join(' ');
}

export function describeReceived(msg: Uint8Array, cid: string, did: string): string {
  const who = did ? `did: ${did} cid: ${cid}` : `cid: ${cid}`;
  const shown = Math.min(msg.length, SHOWN_BYTES);
  const rest = msg.length > SHOWN_BYTES ? ` ... else: ${msg.length - SHOWN_BYTES}` : '';
  const type = msg.length > 0 ? msgName(msg[0]!) : 'EMPTY';
  return `->S [${type}] ${who} [${msg.length}] <Buffer ${hexBytes(msg, shown)}${rest}>`;
}

export function describeText(text: string, cid: string): string {
  const rest = text.length > SHOWN_TEXT ? ` ... else: ${text.length - SHOWN_TEXT}` : '';
  return `->S  [TEXT] ${text.slice(0, SHOWN_TEXT)}${rest} cid: ${cid}`;
}
