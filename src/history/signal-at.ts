// SIGNAL_AT (`D7`, beyond iosignal; docs/durability.md §7): a channel signal with its place in the channel's
// history, sent only to sessions that asked for positions (`history.subscribe`). Pure codec, no I/O:
//   D7 ‖ u8 epoch length ‖ epoch (ASCII) ‖ u32 BE offset high ‖ u32 BE offset low ‖ the SIGNAL as delivered
export const SIGNAL_AT = 0xd7;
const MAX_EPOCH = 255;

export interface SignalAt {
  readonly epoch: string;
  readonly offset: number;
  /** The SIGNAL (D0 …) as a plain subscriber gets it. */
  readonly signal: Buffer;
}

export function encodeSignalAt(epoch: string, offset: number, signal: Uint8Array): Buffer {
  const epochBytes = Buffer.from(epoch, 'latin1');
  if (epochBytes.length > MAX_EPOCH) throw new RangeError('epoch too long');
  const head = 2 + epochBytes.length + 8;
  const out = Buffer.allocUnsafe(head + signal.length);
  out[0] = SIGNAL_AT;
  out[1] = epochBytes.length;
  epochBytes.copy(out, 2);
  out.writeUInt32BE(Math.floor(offset / 0x1_0000_0000), 2 + epochBytes.length);
  out.writeUInt32BE(offset >>> 0, 6 + epochBytes.length);
  out.set(signal, head);
  return out;
}

/** null when `bytes` is no well-formed SIGNAL_AT. */
export function decodeSignalAt(bytes: Uint8Array): SignalAt | null {
  if (bytes.length < 10 || bytes[0] !== SIGNAL_AT) return null;
  const epochLength = bytes[1]!;
  const head = 2 + epochLength + 8;
  if (bytes.length <= head) return null;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const offset = buf.readUInt32BE(2 + epochLength) * 0x1_0000_0000 + buf.readUInt32BE(6 + epochLength);
  return { epoch: buf.toString('latin1', 2, 2 + epochLength), offset, signal: buf.subarray(head) };
}
