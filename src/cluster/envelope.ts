// What crosses the bus: small msgpackr arrays. The signal bytes travel as they are (binary, plaintext):
// every node seals them for its own encrypted receivers, so the bus never needs session keys.
import { Packr } from 'msgpackr';
import { isBudgetShares, type BudgetShares } from './budget-split.js';
import { uintSize, writeDataEnvelope, writeUint } from './envelope-writer.js';
import { envelopeShapeOk } from './envelope-shape.js';
import type { Publisher } from '../delivery/outbound.js';

export const KIND = {
  /**
   * A publish to a channel key: [kind, node, seq, key, msg, budget, publisher]; budget -1 (no cap) or
   * [node, share…]; publisher: the client's CID, or nil for the server itself (absent from older nodes: '').
   */
  PUBLISH: 1,
  /** A unicast already rewritten to `@topic`: [kind, node, seq, cid, msg, publisher]. */
  UNICAST: 2,
  /** Raw bytes for every connection of every node (SERVER_SIGNAL, "send to every device"): [kind, node, seq, msg]. */
  EVERYONE: 3,
  /** A question to one node: [kind, node, seq, id, op, arg]. */
  REQUEST: 4,
  /** The answer: [kind, node, seq, id, result]. */
  REPLY: 5,
  /** A bus round trip probe to the node's own channel: [kind, node, seq, sentAtMs]. */
  PING: 6,
  /** Interest changes on the control channel: [kind, node, seq, ctlSeq, added[], removed[]]. */
  INTEREST: 7,
  /** Every key a node wants, in parts (part 0 replaces, later parts add): [kind, node, seq, ctlSeq, keys[], part]. */
  SNAPSHOT: 8,
  /** "Send me your snapshot" (to everyone on the control channel, or to one node): [kind, node, seq]. */
  SYNC: 9,
  /** A node was found dead: forget its interests: [kind, node, seq, deadNode]. */
  GONE: 10,
} as const;

export type Envelope =
  | { kind: typeof KIND.PUBLISH; node: string; seq: number; key: string; msg: Buffer; budget: number | BudgetShares; publisher: Publisher }
  | { kind: typeof KIND.UNICAST; node: string; seq: number; cid: string; msg: Buffer; publisher: Publisher }
  | { kind: typeof KIND.EVERYONE; node: string; seq: number; msg: Buffer }
  | { kind: typeof KIND.REQUEST; node: string; seq: number; id: number; op: string; arg: string }
  | { kind: typeof KIND.REPLY; node: string; seq: number; id: number; result: string }
  | { kind: typeof KIND.PING; node: string; seq: number; sentAt: number }
  | { kind: typeof KIND.INTEREST; node: string; seq: number; ctlSeq: number; added: string[]; removed: string[] }
  | { kind: typeof KIND.SNAPSHOT; node: string; seq: number; ctlSeq: number; keys: string[]; part: number }
  | { kind: typeof KIND.SYNC; node: string; seq: number }
  | { kind: typeof KIND.GONE; node: string; seq: number; dead: string };

// Plain arrays, no records: every node decodes every envelope without shared structure state.
const packr = new Packr({ useRecords: false, moreTypes: false });

/** The envelope as the plain array that goes on the wire. */
function fieldsOf(e: Envelope): unknown[] {
  switch (e.kind) {
    case KIND.PUBLISH:
      return [e.kind, e.node, e.seq, e.key, e.msg, e.budget, e.publisher];
    case KIND.UNICAST:
      return [e.kind, e.node, e.seq, e.cid, e.msg, e.publisher];
    case KIND.EVERYONE:
      return [e.kind, e.node, e.seq, e.msg];
    case KIND.REQUEST:
      return [e.kind, e.node, e.seq, e.id, e.op, e.arg];
    case KIND.REPLY:
      return [e.kind, e.node, e.seq, e.id, e.result];
    case KIND.PING:
      return [e.kind, e.node, e.seq, e.sentAt];
    case KIND.INTEREST:
      return [e.kind, e.node, e.seq, e.ctlSeq, e.added, e.removed];
    case KIND.SNAPSHOT:
      return [e.kind, e.node, e.seq, e.ctlSeq, e.keys, e.part];
    case KIND.SYNC:
      return [e.kind, e.node, e.seq];
    case KIND.GONE:
      return [e.kind, e.node, e.seq, e.dead];
  }
}

export function encodeEnvelope(e: Envelope): Buffer {
  // The message path's envelopes are written directly (envelope-writer.ts); the same bytes, far cheaper.
  if (e.kind === KIND.PUBLISH && e.budget === -1) return writeDataEnvelope(e.kind, e.node, e.seq, e.key, e.msg, true, e.publisher);
  if (e.kind === KIND.UNICAST) return writeDataEnvelope(e.kind, e.node, e.seq, e.cid, e.msg, false, e.publisher);
  return packr.pack(fieldsOf(e));
}

/** Through msgpackr whatever the kind (tests compare the direct writer with it). */
export function packEnvelope(e: Envelope): Buffer {
  return packr.pack(fieldsOf(e));
}

/**
 * Several encoded envelopes for one Redis channel as one Redis message: a msgpack array of the envelope arrays
 * (a single envelope starts with its kind, a number, so the two cannot be confused). The envelopes are encoded
 * when sent (their bytes may live in a transport buffer that is reused after the callback) and only framed here.
 *
 * With `seq` ≥ 0 the array starts with a sequence header `[0, seq]`: the run's envelopes are numbers seq, seq + 1, …
 * of their sender's data on this Redis channel (outbox.ts), so a receiver can count what it never got (a few bytes
 * per Redis message, none per envelope). A node that predates the header reads it as one malformed envelope and
 * the rest as usual; a message without one is simply not checked.
 */
export function bundleEnvelopes(encoded: readonly Buffer[], seq = -1, from = 0, to = encoded.length): Buffer {
  const items = to - from + (seq >= 0 ? 1 : 0);
  if (items > 0xffff) throw new RangeError('bundle too large');
  let size = items < 16 ? 1 : 3;
  if (seq >= 0) size += 2 + uintSize(seq);
  for (let i = from; i < to; i++) size += encoded[i]!.length;
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  if (items < 16) buf[at++] = 0x90 | items;
  else {
    buf[at++] = 0xdc;
    buf.writeUInt16BE(items, at);
    at += 2;
  }
  if (seq >= 0) {
    buf[at++] = 0x92;
    buf[at++] = SEQUENCE_HEADER;
    at = writeUint(buf, at, seq);
  }
  for (let i = from; i < to; i++) {
    buf.set(encoded[i]!, at);
    at += encoded[i]!.length;
  }
  return buf;
}

/** The kind number of a bundle's sequence header (no envelope has kind 0). */
const SEQUENCE_HEADER = 0;

/** A Redis message read back: its envelopes (null for each malformed one) and its sequence header (-1: none). */
export interface DecodedMessage {
  seq: number;
  envelopes: (Envelope | null)[];
}

const isBytes = (v: unknown): v is Buffer => v instanceof Uint8Array;
const isText = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number';
const isTextList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isText);
/** The publisher field: a CID, nil for the server, absent from an older node ('': unknown); undefined if malformed. */
const publisherOf = (v: unknown): Publisher | undefined => (v === undefined ? '' : v === null || isText(v) ? v : undefined);

/** Decodes one envelope; anything malformed (another program on the channel, a newer node) gives null. */
export function decodeEnvelope(bytes: Buffer): Envelope | null {
  const v = unpack(bytes);
  return v === undefined || isBundle(v) ? null : fromValue(v);
}

/**
 * Decodes a Redis message: one envelope or a bundle (bundleEnvelopes), with or without a sequence header. null when
 * the message cannot be read at all; a null entry for each envelope of a bundle that is malformed.
 */
export function decodeMessage(bytes: Buffer): DecodedMessage | null {
  const v = unpack(bytes);
  if (v === undefined) return null;
  if (!isBundle(v)) return { seq: -1, envelopes: [fromValue(v)] };
  const header = v[0] as unknown[];
  if (header[0] === SEQUENCE_HEADER && header.length === 2 && isNumber(header[1])) {
    const envelopes: (Envelope | null)[] = new Array(v.length - 1);
    for (let i = 1; i < v.length; i++) envelopes[i - 1] = fromValue(v[i]);
    return { seq: header[1], envelopes };
  }
  return { seq: -1, envelopes: v.map(fromValue) };
}

/**
 * A channel-retained message as a node keeps it in Redis for late subscribers elsewhere: `[msg, publisher]`, so
 * their replay names the publisher as the publishing node's does.
 */
export function encodeRetained(msg: Uint8Array, publisher: Publisher): Buffer {
  return packr.pack([asBuffer(msg), publisher]);
}

/**
 * The message and publisher of a retained value read from Redis; null when it cannot be read. A value written by
 * an older node is the bare SIGNAL message (it starts with its message code, never with 0x92): publisher ''.
 */
export function decodeRetained(bytes: Buffer): { msg: Buffer; publisher: Publisher } | null {
  if (bytes[0] !== 0x92) return { msg: bytes, publisher: '' };
  const v = unpack(bytes);
  const publisher = Array.isArray(v) && v.length === 2 && isBytes(v[0]) ? publisherOf(v[1]) : undefined;
  return publisher === undefined ? null : { msg: asBuffer((v as [Uint8Array])[0]), publisher };
}

function unpack(bytes: Buffer): unknown {
  // msgpackr recurses into nesting: a message of another shape than ours is refused before it gets there.
  if (!envelopeShapeOk(bytes)) return undefined;
  try {
    return packr.unpack(bytes) as unknown;
  } catch {
    return undefined;
  }
}

const isBundle = (v: unknown): v is unknown[] => Array.isArray(v) && v.length > 0 && Array.isArray(v[0]);

function fromValue(v: unknown): Envelope | null {
  if (!Array.isArray(v) || !isNumber(v[0]) || !isText(v[1]) || !isNumber(v[2])) return null;
  const [kind, node, seq] = v as [number, string, number];
  switch (kind) {
    case KIND.PUBLISH: {
      const publisher = publisherOf(v[6]);
      if (!isText(v[3]) || !isBytes(v[4]) || !(isNumber(v[5]) || isBudgetShares(v[5])) || publisher === undefined) return null;
      return { kind, node, seq, key: v[3], msg: asBuffer(v[4]), budget: v[5], publisher };
    }
    case KIND.UNICAST: {
      const publisher = publisherOf(v[5]);
      return isText(v[3]) && isBytes(v[4]) && publisher !== undefined ? { kind, node, seq, cid: v[3], msg: asBuffer(v[4]), publisher } : null;
    }
    case KIND.EVERYONE:
      return isBytes(v[3]) ? { kind, node, seq, msg: asBuffer(v[3]) } : null;
    case KIND.REQUEST:
      return isNumber(v[3]) && isText(v[4]) && isText(v[5]) ? { kind, node, seq, id: v[3], op: v[4], arg: v[5] } : null;
    case KIND.REPLY:
      return isNumber(v[3]) && isText(v[4]) ? { kind, node, seq, id: v[3], result: v[4] } : null;
    case KIND.PING:
      return isNumber(v[3]) ? { kind, node, seq, sentAt: v[3] } : null;
    case KIND.INTEREST:
      return isNumber(v[3]) && isTextList(v[4]) && isTextList(v[5]) ? { kind, node, seq, ctlSeq: v[3], added: v[4], removed: v[5] } : null;
    case KIND.SNAPSHOT:
      return isNumber(v[3]) && isTextList(v[4]) && isNumber(v[5]) ? { kind, node, seq, ctlSeq: v[3], keys: v[4], part: v[5] } : null;
    case KIND.SYNC:
      return { kind, node, seq };
    case KIND.GONE:
      return isText(v[3]) ? { kind, node, seq, dead: v[3] } : null;
    default:
      return null;
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
