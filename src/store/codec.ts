// How records look on disk and in Redis: the same bytes in both stores, so a dump of one can be read into the other.
// Retained values and log entries are a tiny binary layout of their own (they are the bulk: 1 M of them must load
// in seconds); sessions and log metas are plain msgpack maps, which any msgpack reader can inspect.
//
//   retained value  u8 1 ‖ u16 BE owner length (0xFFFF: no owner) ‖ owner UTF-8 ‖ message
//   log entry       u8 1 ‖ f64 BE time (ms) ‖ data
//   log meta        msgpack { e: epoch, t: top, f: first }
//   session         msgpack of the owner's plain data
//   format record   msgpack { format, writtenBy, state: 'open' | 'clean', created }
import { Packr } from 'msgpackr';
import type { LogEntry, LogMeta, RetainedValue, SessionData } from './types.js';

/**
 * Version of the layout above. A store written in a newer format is refused; an older one is read through the
 * readers in `migrations` (none yet: 1 is the first format). Bump it with every change a reader would misread.
 */
export const FORMAT_VERSION = 1;

/** A record that cannot be decoded: the store is reported, never read as empty. */
export class CorruptRecordError extends Error {
  constructor(
    readonly table: string,
    readonly key: string,
    why: string,
  ) {
    super(`${table} record ${JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}…` : key)}: ${why}`);
    this.name = 'CorruptRecordError';
  }
}

const RECORD_V1 = 1;
const NO_OWNER = 0xffff;
const MAX_OWNER_BYTES = 0xfffe;

// Plain msgpack (no record extension, no shared structures): stable bytes that need no dictionary to read.
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, variableMapSize: true });

export function encodeRetained(value: RetainedValue): Buffer {
  const ownerBytes = value.owner === null ? 0 : Buffer.byteLength(value.owner);
  if (ownerBytes > MAX_OWNER_BYTES) throw new RangeError('a retained value owner over 65534 bytes');
  const out = Buffer.allocUnsafe(3 + ownerBytes + value.msg.length);
  out[0] = RECORD_V1;
  out.writeUInt16BE(value.owner === null ? NO_OWNER : ownerBytes, 1);
  if (value.owner !== null) out.write(value.owner, 3, 'utf8');
  value.msg.copy(out, 3 + ownerBytes);
  return out;
}

/** `bytes` must not change afterwards: the message is a view into it. */
export function decodeRetained(bytes: Uint8Array, table: string, key: string): RetainedValue {
  if (bytes.length < 3 || bytes[0] !== RECORD_V1) throw new CorruptRecordError(table, key, `unknown record layout (${bytes.length} bytes, first byte ${bytes[0] ?? 'none'})`);
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const ownerLength = buf.readUInt16BE(1);
  if (ownerLength === NO_OWNER) return { msg: buf.subarray(3), owner: null };
  if (3 + ownerLength > buf.length) throw new CorruptRecordError(table, key, 'its owner runs past its end');
  return { owner: buf.toString('utf8', 3, 3 + ownerLength), msg: buf.subarray(3 + ownerLength) };
}

export function encodeEntry(entry: LogEntry): Buffer {
  const out = Buffer.allocUnsafe(9 + entry.data.length);
  out[0] = RECORD_V1;
  out.writeDoubleBE(entry.time, 1);
  entry.data.copy(out, 9);
  return out;
}

export function decodeEntry(bytes: Uint8Array, offset: number, log: string): LogEntry {
  if (bytes.length < 9 || bytes[0] !== RECORD_V1) throw new CorruptRecordError('log', `${log}#${offset}`, `unknown entry layout (${bytes.length} bytes)`);
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const time = buf.readDoubleBE(1);
  if (!Number.isFinite(time)) throw new CorruptRecordError('log', `${log}#${offset}`, 'its time is not a number');
  return { offset, time, data: buf.subarray(9) };
}

export function encodeMeta(meta: LogMeta): Buffer {
  return packr.pack({ e: meta.epoch, t: meta.top, f: meta.first });
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

export function decodeMeta(bytes: Uint8Array, log: string): LogMeta {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (err) {
    throw new CorruptRecordError('log meta', log, `not msgpack (${(err as Error).message})`);
  }
  const m = raw as { e?: unknown; t?: unknown; f?: unknown } | null;
  if (!m || typeof m.e !== 'string' || !isCount(m.t) || !isCount(m.f) || m.f > m.t + 1) {
    throw new CorruptRecordError('log meta', log, 'fields missing or out of range');
  }
  return { epoch: m.e, top: m.t, first: m.f };
}

/** Plain data (a session record, a queued MQTT delivery) as a msgpack map. */
export function encodeData(data: SessionData): Buffer {
  return packr.pack(data);
}

export function decodeData(bytes: Uint8Array, table: string, key: string): SessionData {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (err) {
    throw new CorruptRecordError(table, key, `not msgpack (${(err as Error).message})`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new CorruptRecordError(table, key, 'not a map');
  return raw as SessionData;
}

export const decodeSession = (bytes: Uint8Array, clientId: string): SessionData => decodeData(bytes, 'session', clientId);

/** The store's own record: which format it is in and whether the last run closed it. */
export interface FormatRecord {
  format: number;
  writtenBy: string;
  state: 'open' | 'clean';
  /** When the store was created, ms since the epoch. */
  created: number;
  /** Redis store: the run_id of the Redis that last opened it (a different one has restarted since). */
  runId?: string;
}

export function encodeFormat(record: FormatRecord): Buffer {
  return packr.pack(record);
}

/** null when the bytes are not a format record at all (the caller says whose file it is). */
export function decodeFormat(bytes: Uint8Array): FormatRecord | null {
  try {
    const r = packr.unpack(bytes) as Partial<FormatRecord> | null;
    if (!r || !isCount(r.format) || typeof r.writtenBy !== 'string' || (r.state !== 'open' && r.state !== 'clean')) return null;
    const record: FormatRecord = { format: r.format, writtenBy: r.writtenBy, state: r.state, created: isCount(r.created) ? r.created : 0 };
    if (typeof r.runId === 'string') record.runId = r.runId;
    return record;
  } catch {
    return null;
  }
}
