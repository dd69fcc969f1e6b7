// Channel history with offsets and epochs, in memory, written behind to the store (one node: LMDB, or nothing).
// Every signal published on a channel whose key matches a `--history` pattern gets the next offset of the
// channel's stream; the stream keeps the last `count` signals and none older than `maxAgeMs`, and all streams
// together stay within `maxBytes` (the oldest entries across channels go first). A reader asks "since offset X
// in epoch E" and gets exactly the signals after X, in order, with the position live delivery continues at, or a
// refusal that says why (epochs.ts). Appends and reads are synchronous and O(1) + O(returned entries): the
// offsets are contiguous, so an entry's place in its stream is arithmetic.
//
// Durable first: with a store, an entry becomes visible to positioned readers (reads, positions, the durable
// listener that releases positioned live deliveries) only once the store says it is durable. Plain subscribers
// are not affected (they get every signal at once, as without history), and a restart of any kind never takes
// back an offset a positioned reader was shown.
import { randomBytes } from 'node:crypto';
import { judgePosition, type Refusal } from './epochs.js';
import type { HistoryLimits, HistoryPolicy } from './policy.js';
import { pageOf } from '../store/key-page.js';
import { HISTORY_LOG_PREFIX, historyLog, type DurableStore, type KeyPage, type LogEntry, type LogMeta, type StoreWrites } from '../store/types.js';

/** Default of `--history-max-bytes`: every channel's history together. */
export const DEFAULT_HISTORY_MAX_BYTES = 64 * 1024 * 1024;
/** Bytes counted per entry besides its message, and per stream besides its entries (key, epoch, bookkeeping). */
export const ENTRY_OVERHEAD = 64;
export const STREAM_OVERHEAD = 192;
/** Entries one read returns at most (a reader further behind asks again from the last one it got). */
export const DEFAULT_READ_LIMIT = 10_000;

export interface Position {
  readonly epoch: string;
  /** An offset in that epoch; as a channel's position, the last durable one (live delivery continues after it). */
  readonly offset: number;
}

/** Entries of `key` up to `position.offset` are durable now: positioned deliveries up to it may go out. */
export type DurableHandler = (key: string, position: Position) => void;

export interface HistoryEntry {
  readonly offset: number;
  readonly time: number;
  /** The SIGNAL as routed. */
  readonly msg: Buffer;
}

export type Recovery =
  | {
      readonly ok: true;
      readonly epoch: string;
      /** The missed signals, in order, offsets consecutive from the requested offset + 1. */
      readonly entries: readonly HistoryEntry[];
      /** More were missed than one read returns: ask again since the last entry. */
      readonly more: boolean;
      /** Where the stream is now: live delivery continues at position.offset + 1. */
      readonly position: Position;
    }
  | { readonly ok: false; readonly reason: Refusal | 'no-history'; readonly position: Position | null };

export interface ChannelHistoryOptions {
  policy: HistoryPolicy;
  /** All streams together (entries + bookkeeping). */
  maxBytes?: number;
  /** Where appends are written behind; null: memory only (entries count as durable at once). */
  store?: (StoreWrites & Pick<DurableStore, 'onDurable'>) | null;
  /** Told when entries become durable (with no store: at the end of each append). */
  onDurable?: DurableHandler;
  now?: () => number;
  newEpoch?: () => string;
  log?: (line: string) => void;
}

export interface HistoryFigures {
  channels: number;
  entries: number;
  bytes: number;
  /** Entries dropped to keep `maxBytes` (not by their channel's own count or age). */
  evicted: number;
}

class Stream {
  epoch: string;
  /** Last offset handed out. */
  top = 0;
  /** Last offset the store holds durably (= top without a store). */
  durable = 0;
  /** Offset of entries[head]. */
  first = 1;
  entries: Array<HistoryEntry | undefined> = [];
  head = 0;
  bytes: number;

  constructor(
    readonly key: string,
    public limits: HistoryLimits,
    epoch: string,
  ) {
    this.epoch = epoch;
    this.bytes = STREAM_OVERHEAD + key.length;
  }

  get size(): number {
    return this.entries.length - this.head;
  }

  at(offset: number): HistoryEntry | undefined {
    const i = this.head + offset - this.first;
    return i >= this.head && i < this.entries.length ? this.entries[i] : undefined;
  }

  /** Drops the oldest entry; returns its bytes. */
  shift(): number {
    const entry = this.entries[this.head];
    if (!entry) return 0;
    this.entries[this.head++] = undefined;
    this.first++;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    const freed = ENTRY_OVERHEAD + entry.msg.length;
    this.bytes -= freed;
    return freed;
  }

  meta(): LogMeta {
    return { epoch: this.epoch, top: this.top, first: this.first };
  }
}

/** Append order across streams, for the byte bound: parallel arrays, no object per entry. */
class AppendOrder {
  private streams: Array<Stream | undefined> = [];
  private offsets: number[] = [];
  private head = 0;

  push(stream: Stream, offset: number): void {
    this.streams.push(stream);
    this.offsets.push(offset);
  }

  /** The oldest (stream, offset) still recorded. */
  peek(): [Stream, number] | undefined {
    return this.head < this.streams.length ? [this.streams[this.head]!, this.offsets[this.head]!] : undefined;
  }

  /** Forgets the oldest record. */
  shift(): void {
    if (this.head >= this.streams.length) return;
    this.streams[this.head++] = undefined;
    if (this.head > 4096 && this.head * 2 > this.streams.length) {
      this.streams = this.streams.slice(this.head);
      this.offsets = this.offsets.slice(this.head);
      this.head = 0;
    }
  }

  get length(): number {
    return this.streams.length - this.head;
  }
}

export const randomEpoch = (): string => randomBytes(6).toString('base64url');

export class ChannelHistory {
  /** Streams by channel key, least recently appended first. */
  private readonly streams = new Map<string, Stream>();
  private readonly order = new AppendOrder();
  private bytes = 0;
  private entryCount = 0;
  private evicted = 0;
  readonly maxBytes: number;
  private readonly store: StoreWrites | null;
  private readonly durableHandler: DurableHandler | null;
  private readonly now: () => number;
  private readonly newEpoch: () => string;
  private readonly log: (line: string) => void;

  constructor(private readonly options: ChannelHistoryOptions) {
    this.maxBytes = options.maxBytes ?? DEFAULT_HISTORY_MAX_BYTES;
    if (!(this.maxBytes > 0)) throw new RangeError('--history-max-bytes must be positive');
    this.store = options.store ?? null;
    this.durableHandler = options.onDurable ?? null;
    options.store?.onDurable((tops) => this.durableTops(tops));
    this.now = options.now ?? Date.now;
    this.newEpoch = options.newEpoch ?? randomEpoch;
    this.log = options.log ?? (() => {});
  }

  get policy(): HistoryPolicy {
    return this.options.policy;
  }

  /**
   * Records a signal published on channel `key` (before it is delivered, so live deliveries can carry its
   * position); null when the channel keeps no history. `msg` must not change afterwards.
   */
  append(key: string, msg: Buffer): Position | null {
    let stream = this.streams.get(key);
    if (!stream) {
      const limits = this.options.policy.limitsFor(key);
      if (!limits) return null;
      stream = new Stream(key, limits, this.newEpoch());
      this.bytes += stream.bytes;
    } else this.streams.delete(key); // re-inserted below: least recently appended first
    this.streams.set(key, stream);
    const now = this.now();
    const entry: HistoryEntry = { offset: ++stream.top, time: now, msg };
    stream.entries.push(entry);
    const size = ENTRY_OVERHEAD + msg.length;
    stream.bytes += size;
    this.bytes += size;
    this.entryCount++;
    this.order.push(stream, entry.offset);
    const log = this.store ? historyLog(key) : '';
    this.store?.putLogEntry(log, { offset: entry.offset, time: now, data: msg });
    const trimmed = this.trimOwn(stream, now);
    if (this.bytes > this.maxBytes) this.evict();
    if (this.store) {
      if (trimmed) this.store.trimLog(log, stream.first);
      this.store.putLogMeta(log, stream.meta());
    } else {
      stream.durable = stream.top;
      this.durableHandler?.(key, { epoch: stream.epoch, offset: stream.top });
    }
    return { epoch: stream.epoch, offset: entry.offset };
  }

  /** A commit made entries durable (the store's onDurable). */
  private durableTops(metas: ReadonlyMap<string, LogMeta>): void {
    for (const [log, { epoch, top }] of metas) {
      if (!log.startsWith(HISTORY_LOG_PREFIX)) continue;
      const key = log.slice(HISTORY_LOG_PREFIX.length);
      const stream = this.streams.get(key);
      // A stream forgotten and begun again since that write has another epoch: its offsets are not durable yet.
      if (!stream || stream.epoch !== epoch || top <= stream.durable) continue;
      stream.durable = top;
      this.durableHandler?.(key, { epoch: stream.epoch, offset: top });
      // What waited for durability may go now.
      if (this.trimOwn(stream, this.now())) this.store?.trimLog(log, stream.first);
    }
    if (this.bytes > this.maxBytes) this.evict();
  }

  /**
   * Applies the stream's own count and age bounds; true when something went. Entries not yet durable stay (they
   * go once durable): a positioned reader is shown every entry it will be told about, so the count can be passed
   * for as long as a commit takes.
   */
  private trimOwn(stream: Stream, now: number): boolean {
    const { count, maxAgeMs } = stream.limits;
    let trimmed = false;
    while (stream.size > 0 && stream.first <= stream.durable) {
      const oldest = stream.entries[stream.head]!;
      if ((count > 0 && stream.size > count) || (maxAgeMs > 0 && oldest.time <= now - maxAgeMs)) {
        this.drop(stream);
        trimmed = true;
      } else break;
    }
    return trimmed;
  }

  private drop(stream: Stream): void {
    this.bytes -= stream.shift();
    this.entryCount--;
  }

  /**
   * Oldest entries across channels go until the bound holds; then streams with nothing kept, idle longest first.
   * It stops at an entry not yet durable (see trimOwn) and goes on when the store has written it.
   */
  private evict(): void {
    const touched = new Set<Stream>();
    while (this.bytes > this.maxBytes) {
      const next = this.order.peek();
      if (!next) break;
      const [stream, offset] = next;
      if (offset < stream.first || this.streams.get(stream.key) !== stream) {
        this.order.shift(); // already gone
        continue;
      }
      if (offset > stream.durable) break;
      this.order.shift();
      while (stream.first <= offset) this.drop(stream);
      this.evicted++;
      touched.add(stream);
    }
    for (const [key, stream] of this.streams) {
      if (this.bytes <= this.maxBytes) break;
      if (stream.size > 0) continue;
      this.forget(key, stream);
    }
    if (this.store) for (const stream of touched) this.store.trimLog(historyLog(stream.key), stream.first);
  }

  private forget(key: string, stream: Stream): void {
    while (stream.size > 0) this.drop(stream);
    this.bytes -= stream.bytes;
    this.streams.delete(key);
    this.store?.dropLog(historyLog(key));
  }

  /**
   * The channel's position (its last durable offset); null while nothing of it is durable, so no reader ever holds
   * an epoch that a crash could take back before its first entry was written.
   */
  position(key: string): Position | null {
    const stream = this.streams.get(key);
    return stream && stream.durable > 0 ? { epoch: stream.epoch, offset: stream.durable } : null;
  }

  /** The oldest offset kept, null when nothing is. */
  oldest(key: string): number | null {
    const stream = this.streams.get(key);
    return stream && stream.size > 0 && stream.first <= stream.durable ? stream.first : null;
  }

  /** A durable entry (positioned live delivery); undefined when trimmed or not durable yet. */
  entry(key: string, offset: number): HistoryEntry | undefined {
    const stream = this.streams.get(key);
    return stream && offset <= stream.durable ? stream.at(offset) : undefined;
  }

  /**
   * "Since offset `offset` in epoch `epoch`": the signals after it, in order, at most `limit` of them, and where
   * live delivery continues — or why that cannot be done.
   */
  since(key: string, epoch: string, offset: number, limit = DEFAULT_READ_LIMIT): Recovery {
    const stream = this.streams.get(key);
    if (!stream) return { ok: false, reason: this.options.policy.limitsFor(key) ? 'epoch' : 'no-history', position: null };
    if (this.trimOwn(stream, this.now()) && this.store) this.store.trimLog(historyLog(key), stream.first);
    const position = this.position(key);
    if (!position) return { ok: false, reason: 'epoch', position: null };
    const verdict = judgePosition({ epoch: stream.epoch, top: stream.durable, first: stream.first }, epoch, offset);
    if (!verdict.ok) return { ok: false, reason: verdict.reason, position };
    const entries: HistoryEntry[] = [];
    const last = Math.min(stream.durable, verdict.from + Math.max(0, limit) - 1);
    for (let o = verdict.from; o <= last; o++) entries.push(stream.at(o)!);
    return { ok: true, epoch: stream.epoch, entries, more: last < stream.durable, position };
  }

  /** Admin: forgets a channel's history; readers holding a position in it are told they cannot recover. */
  clear(key: string): boolean {
    const stream = this.streams.get(key);
    if (!stream) return false;
    this.forget(key, stream);
    return true;
  }

  /** Channel keys with a history, in key order, after `cursor`, `limit` of them (admin). */
  channels(prefix = '', cursor: string | null = null, limit = 1000): KeyPage {
    return pageOf(this.streams.keys(), prefix, cursor, limit);
  }

  /** Drops entries past their age in every stream (a timer calls it; reads apply the age themselves). */
  sweep(): void {
    const now = this.now();
    for (const stream of this.streams.values()) {
      if (stream.limits.maxAgeMs > 0 && this.trimOwn(stream, now) && this.store) this.store.trimLog(historyLog(stream.key), stream.first);
    }
  }

  figures(): HistoryFigures {
    return { channels: this.streams.size, entries: this.entryCount, bytes: this.bytes, evicted: this.evicted };
  }

  // ---- the store ------------------------------------------------------------------------------------------------

  /**
   * A history log read back at start-up (StoreVisitor.log; logs of other kinds are ignored). Everything read back
   * is durable, and no positioned reader was ever shown more, so the stream goes on in its epoch, whether or not
   * the last run closed the store. Streams of channels no `--history` pattern names any more are dropped.
   */
  restore(log: string, meta: LogMeta | undefined, stored: readonly LogEntry[]): void {
    if (!log.startsWith(HISTORY_LOG_PREFIX)) return;
    const key = log.slice(HISTORY_LOG_PREFIX.length);
    const limits = this.options.policy.limitsFor(key);
    if (!limits) {
      this.store?.dropLog(log);
      return;
    }
    // The entries form one run of offsets; after a hole (never written so, but a damaged file could) only the
    // newest run is trusted.
    let start = 0;
    for (let i = 1; i < stored.length; i++) if (stored[i]!.offset !== stored[i - 1]!.offset + 1) start = i;
    if (start > 0) this.log(`history ${key}: stored offsets jump before ${stored[start]!.offset}; the ${start} entries before it are dropped`);
    const entries = stored.slice(start);
    const lastOffset = entries.length > 0 ? entries[entries.length - 1]!.offset : 0;
    // No meta: nothing says which epoch these offsets belong to, so they start a new one.
    const stream = new Stream(key, limits, meta?.epoch ?? this.newEpoch());
    stream.top = stream.durable = Math.max(meta?.top ?? 0, lastOffset);
    stream.first = entries.length > 0 ? entries[0]!.offset : stream.top + 1;
    for (const e of entries) {
      stream.entries.push({ offset: e.offset, time: e.time, msg: e.data });
      stream.bytes += ENTRY_OVERHEAD + e.data.length;
      this.order.push(stream, e.offset);
    }
    this.entryCount += entries.length;
    this.bytes += stream.bytes;
    this.streams.set(key, stream);
    const trimmed = this.trimOwn(stream, this.now());
    if (this.bytes > this.maxBytes) this.evict();
    if (this.store && this.streams.get(key) === stream) {
      if (trimmed || start > 0) this.store.trimLog(log, stream.first);
      if (!meta || stream.epoch !== meta.epoch || stream.first !== meta.first || stream.top !== meta.top) this.store.putLogMeta(log, stream.meta());
    }
  }

  /** StoreSource.log: what the store could not take while it was behind. */
  source(log: string, from: number): { meta: LogMeta; entries: Iterable<LogEntry> } | undefined {
    if (!log.startsWith(HISTORY_LOG_PREFIX)) return undefined;
    const stream = this.streams.get(log.slice(HISTORY_LOG_PREFIX.length));
    if (!stream) return undefined;
    const entries: LogEntry[] = [];
    for (let o = Math.max(from, stream.first); o <= stream.top; o++) {
      const e = stream.at(o)!;
      entries.push({ offset: e.offset, time: e.time, data: e.msg });
    }
    return { meta: stream.meta(), entries };
  }
}
