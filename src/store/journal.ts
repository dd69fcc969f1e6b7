// The retained journal of the LMDB store (`<dir>/iosig.journal`; docs/durability.md §11, lever "journal"): the
// retained part of each batch — channel- and CID-retained values, the hot, overwritten-in-place kind of state — is
// appended to this file as one checksummed record and fsync'ed, instead of becoming one B-tree row per key and
// batch. The rows are written to LMDB at checkpoints (once a second, and on flush and close), coalesced over that
// whole time, so a key published a thousand times a second costs one row per second, while what a crash loses is
// still only the batch being committed: the journal is as durable as an LMDB commit (written, then fdatasync).
//
// Record: u32 BE payload length ‖ u32 BE CRC-32 of the payload ‖ payload. Payload: u8 version ‖ f64 BE sequence ‖
// u8 flags ‖ operations. An operation: u8 kind ‖ u16 BE lengths and strings ‖ u32 BE value length ‖ the value as
// codec.ts encodes it. A record whose length or checksum does not hold ends the journal: a torn tail (a crash in
// the middle of an append) is cut off at the last whole record.
import { closeSync, constants as fsConstants, fdatasyncSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import * as zlib from 'node:zlib';
import type { Batch } from './batch.js';
import { decodeRetained } from './codec.js';

/** codec.ts's retained record layout byte. */
const RETAINED_RECORD = 1;
import type { RetainedValue } from './types.js';

const VERSION = 1;
const HEAD = 8;
/** Flag: the batch also wrote LMDB rows, committed after the record with this sequence in the meta table. */
export const MIXED = 1;

const Op = { PutRetained: 1, DeleteRetained: 2, PutCid: 3, DeleteCid: 4, DropCid: 5 } as const;
type Op = (typeof Op)[keyof typeof Op];

/** CRC-32 (zlib's where Node has it; a table otherwise). */
const crc32: (data: Uint8Array) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function'
    ? (data) => (zlib as unknown as { crc32(d: Uint8Array): number }).crc32(data)
    : (() => {
        const table = new Int32Array(256);
        for (let n = 0; n < 256; n++) {
          let c = n;
          for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
          table[n] = c;
        }
        return (data: Uint8Array): number => {
          let c = -1;
          for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
          return (c ^ -1) >>> 0;
        };
      })();

/** The retained changes since the last checkpoint, coalesced (what the next checkpoint writes to LMDB). */
export class RetainedChanges {
  readonly retained = new Map<string, RetainedValue | null>();
  /** cid → (drop everything first, then these topics). */
  readonly cids = new Map<string, { drop: boolean; topics: Map<string, RetainedValue | null> }>();

  get empty(): boolean {
    return this.retained.size === 0 && this.cids.size === 0;
  }

  get size(): number {
    let n = this.retained.size;
    for (const c of this.cids.values()) n += c.topics.size + 1;
    return n;
  }

  add(batch: Batch): void {
    for (const cid of batch.cidDrops) this.cids.set(cid, { drop: true, topics: new Map() });
    for (const [key, value] of batch.retained) this.retained.set(key, value);
    for (const [cid, topics] of batch.cidRetained) {
      let entry = this.cids.get(cid);
      if (!entry) this.cids.set(cid, (entry = { drop: false, topics: new Map() }));
      for (const [topic, value] of topics) entry.topics.set(topic, value);
    }
  }

  putRetained(key: string, value: RetainedValue | null): void {
    this.retained.set(key, value);
  }

  cid(cid: string): { drop: boolean; topics: Map<string, RetainedValue | null> } {
    let entry = this.cids.get(cid);
    if (!entry) this.cids.set(cid, (entry = { drop: false, topics: new Map() }));
    return entry;
  }
}

/** True when the batch has a part for the journal. */
export function hasRetained(batch: Batch): boolean {
  return batch.retained.size > 0 || batch.cidRetained.size > 0 || batch.cidDrops.size > 0;
}

/**
 * One record for the retained part of `batch`, written straight into one buffer (no intermediate buffer per
 * value: this runs once per commit over every retained key of the batch, on the event loop).
 */
export function encodeRecord(batch: Batch, seq: number, flags: number): Buffer {
  // An upper bound (3 UTF-8 bytes per UTF-16 unit); the record is cut to what was written.
  let bound = HEAD + 10;
  const valueBound = (v: RetainedValue | null): number => (v ? 7 + (v.owner === null ? 0 : v.owner.length * 3) + v.msg.length : 0);
  for (const cid of batch.cidDrops) bound += 3 + cid.length * 3;
  for (const [key, v] of batch.retained) bound += 3 + key.length * 3 + valueBound(v);
  for (const [cid, topics] of batch.cidRetained) for (const [topic, v] of topics) bound += 5 + (cid.length + topic.length) * 3 + valueBound(v);
  const out = Buffer.allocUnsafe(bound);
  let at = HEAD;
  out[at++] = VERSION;
  out.writeDoubleBE(seq, at);
  at += 8;
  out[at++] = flags;
  const text = (s: string): void => {
    const n = out.write(s, at + 2, 'utf8');
    if (n > 0xfffe) throw new RangeError('a journal key or owner over 65534 bytes');
    out[at] = n >>> 8;
    out[at + 1] = n & 0xff;
    at += 2 + n;
  };
  const value = (v: RetainedValue): void => {
    // u32 length ‖ codec.ts's retained record: 01 ‖ u16 owner length (FFFF: none) ‖ owner ‖ message.
    const start = at;
    at += 4;
    out[at++] = RETAINED_RECORD;
    if (v.owner === null) {
      out[at] = 0xff;
      out[at + 1] = 0xff;
      at += 2;
    } else text(v.owner);
    out.set(v.msg, at);
    at += v.msg.length;
    out.writeUInt32BE(at - start - 4, start);
  };
  for (const cid of batch.cidDrops) {
    out[at++] = Op.DropCid;
    text(cid);
  }
  for (const [key, v] of batch.retained) {
    out[at++] = v ? Op.PutRetained : Op.DeleteRetained;
    text(key);
    if (v) value(v);
  }
  for (const [cid, topics] of batch.cidRetained) {
    for (const [topic, v] of topics) {
      out[at++] = v ? Op.PutCid : Op.DeleteCid;
      text(cid);
      text(topic);
      if (v) value(v);
    }
  }
  out.writeUInt32BE(at - HEAD, 0);
  out.writeUInt32BE(crc32(out.subarray(HEAD, at)), 4);
  return out.subarray(0, at);
}

/** What a journal read back holds: its records in order, and where the last whole one ends. */
export interface JournalRecord {
  seq: number;
  flags: number;
  apply(changes: RetainedChanges): void;
}

/**
 * The whole records of a journal file; `end` is the byte after the last one (a torn or damaged tail starts there).
 * Throws on a record that is whole and checksummed but not readable (a format this version does not know).
 */
export function readJournal(bytes: Buffer, file: string): { records: JournalRecord[]; end: number } {
  const records: JournalRecord[] = [];
  let at = 0;
  while (at + HEAD <= bytes.length) {
    const length = bytes.readUInt32BE(at);
    if (length < 10 || at + HEAD + length > bytes.length) break;
    const payload = bytes.subarray(at + HEAD, at + HEAD + length);
    if (crc32(payload) !== bytes.readUInt32BE(at + 4)) break;
    if (payload[0] !== VERSION) throw new Error(`${file}: a journal record in format ${payload[0]}, which this iosig does not read`);
    records.push(parseRecord(payload, file));
    at += HEAD + length;
  }
  return { records, end: at };
}

function parseRecord(payload: Buffer, file: string): JournalRecord {
  const seq = payload.readDoubleBE(1);
  const flags = payload[9]!;
  let at = 10;
  const take = (wide: boolean): Buffer => {
    const n = wide ? payload.readUInt32BE(at) : payload.readUInt16BE(at);
    at += wide ? 4 : 2;
    if (at + n > payload.length) throw new Error(`${file}: a journal record runs past its end`);
    const b = payload.subarray(at, at + n);
    at += n;
    return b;
  };
  const steps: Array<(c: RetainedChanges) => void> = [];
  while (at < payload.length) {
    const kind = payload[at++] as Op;
    const a = take(false).toString('utf8');
    switch (kind) {
      case Op.PutRetained: {
        const v = decodeRetained(Buffer.from(take(true)), 'journal', a);
        steps.push((c) => c.putRetained(a, v));
        break;
      }
      case Op.DeleteRetained:
        steps.push((c) => c.putRetained(a, null));
        break;
      case Op.PutCid: {
        const topic = take(false).toString('utf8');
        const v = decodeRetained(Buffer.from(take(true)), 'journal', `${a}@${topic}`);
        steps.push((c) => c.cid(a).topics.set(topic, v));
        break;
      }
      case Op.DeleteCid: {
        const topic = take(false).toString('utf8');
        steps.push((c) => c.cid(a).topics.set(topic, null));
        break;
      }
      case Op.DropCid:
        steps.push((c) => c.cids.set(a, { drop: true, topics: new Map() }));
        break;
      default:
        throw new Error(`${file}: a journal operation of kind ${String(kind as number)}, which this iosig does not read`);
    }
  }
  return {
    seq,
    flags,
    apply: (c) => {
      for (const step of steps) step(c);
    },
  };
}

/**
 * The open journal file, opened with O_DSYNC: one write is on disk when it returns, so an append is one trip to
 * the thread pool, not a write and an fdatasync (a commit's fixed cost matters when batches are small).
 */
export class JournalFile {
  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
    /** Bytes in the file. */
    public size: number,
  ) {}

  static async open(file: string, size: number): Promise<JournalFile> {
    const { O_WRONLY, O_APPEND, O_CREAT, O_DSYNC } = fsConstants;
    return new JournalFile(file, await open(file, O_WRONLY | O_APPEND | O_CREAT | (O_DSYNC ?? 0)), size);
  }

  /** Written and on disk when it resolves. */
  async append(record: Buffer): Promise<void> {
    await this.handle.write(record);
    this.size += record.length;
    if (fsConstants.O_DSYNC === undefined) await this.handle.datasync();
  }

  /** Empties the file (after a checkpoint wrote everything in it to LMDB). */
  async truncate(): Promise<void> {
    await this.handle.truncate(0);
    this.size = 0;
    await this.handle.datasync();
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** Reads the journal at open (synchronously: nothing else runs yet); cuts a torn tail off. */
export function readJournalFile(file: string, log: (line: string) => void): { records: JournalRecord[]; size: number } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], size: 0 };
    throw err;
  }
  const { records, end } = readJournal(bytes, file);
  if (end < bytes.length) {
    log(`store ${file}: the last ${bytes.length - end} bytes of the journal are not a whole record (a write cut short by the stop); they are dropped`);
    const fd = openSync(file, 'r+');
    try {
      ftruncateSync(fd, end);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  return { records, size: end };
}

/** Writes raw bytes at the end of a journal (tests: a torn append). */
export function appendRaw(file: string, bytes: Buffer): void {
  const fd = openSync(file, 'a');
  try {
    writeSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}
