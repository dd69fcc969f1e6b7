// Positioned readers of history channels (docs/durability.md §7): sessions that asked `history.subscribe` for a
// channel get its signals as SIGNAL_AT (`D7`, with epoch and offset) instead of plain deliveries, first the ones
// they missed since the position they hold, then live ones, with no duplicate and no gap. Live ones go out when
// the history says they are durable (at once without a store; after the commit with one), so no restart takes
// back an offset a reader was shown. On one node the history is in memory and every read is synchronous: the
// replay is read a slice per turn up to the durable top at that moment, and durable notices that arrive between
// slices are picked up by the next slice, so the seam has nothing to merge.
import type { ChannelHistory, Position, Recovery } from '../history/channel-history.js';
import { encodeSignalAt } from '../history/signal-at.js';

/** Entries sent per turn while a reader catches up (the history's own read bound). */
const REPLAY_SLICE = 10_000;

interface ReaderState {
  /** The epoch the reader's offsets are in; null when it subscribed before anything was durable. */
  epoch: string | null;
  /** The last offset it was sent (or held when it subscribed). */
  sent: number;
  /** False while its replay is under way (durable notices are left to the replay). */
  live: boolean;
}

export type PositionedAnswer =
  | { ok: true; position: Position }
  | { ok: false; reason: Exclude<Recovery, { ok: true }>['reason'] | 'limit'; position: Position | null };

export class PositionedReaders<R extends object = object> {
  /** channel key → reader → state. */
  private readonly byKey = new Map<string, Map<R, ReaderState>>();
  /** reader → its channel keys (to forget a closed session in one walk). */
  private readonly byReader = new Map<R, Set<string>>();
  private send: (reader: R, frame: Uint8Array) => void = () => {};
  private maxPerReader = Infinity;

  constructor(private readonly history: () => ChannelHistory | null) {}

  /** Where frames go (the broker: the session's secure channel), and the bound of positioned channels per reader. */
  connect(send: (reader: R, frame: Uint8Array) => void, maxPerReader: number): void {
    this.send = send;
    this.maxPerReader = maxPerReader;
  }

  get readers(): number {
    return this.byReader.size;
  }

  /**
   * Subscribes `reader` to `key` with positions: since `from` (what it holds), or from now when `from` is null.
   * Resolves once the missed signals are sent, with where live delivery continues; a position that cannot be
   * recovered is refused with the reason, and the reader is subscribed from now on anyway.
   */
  async subscribe(reader: R, key: string, from: Position | null): Promise<PositionedAnswer> {
    const history = this.history();
    if (!history || history.policy.limitsFor(key) === null) return { ok: false, reason: 'no-history', position: null };
    const keys = this.byReader.get(reader);
    if (!keys?.has(key) && (keys?.size ?? 0) >= this.maxPerReader) return { ok: false, reason: 'limit', position: history.position(key) };
    this.remove(reader, key);
    if (from === null) return { ok: true, position: this.fromNow(reader, key, history) };
    let read = history.since(key, from.epoch, from.offset, REPLAY_SLICE);
    if (!read.ok) {
      const position = this.fromNow(reader, key, history);
      return { ok: false, reason: read.reason, position };
    }
    const state: ReaderState = { epoch: read.epoch, sent: from.offset, live: false };
    this.add(reader, key, state);
    for (;;) {
      for (const entry of read.entries) this.send(reader, encodeSignalAt(read.epoch, entry.offset, entry.msg));
      if (read.entries.length > 0) state.sent = read.entries[read.entries.length - 1]!.offset;
      if (!read.more) break;
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.byKey.get(key)?.get(reader) !== state) return { ok: false, reason: 'epoch', position: history.position(key) };
      read = history.since(key, state.epoch!, state.sent, REPLAY_SLICE);
      if (!read.ok) {
        // Trimmed or cleared while the reader caught up: it is told, and goes on from now.
        this.remove(reader, key);
        return { ok: false, reason: read.reason, position: this.fromNow(reader, key, history) };
      }
    }
    state.live = true;
    return { ok: true, position: { epoch: state.epoch!, offset: state.sent } };
  }

  private fromNow(reader: R, key: string, history: ChannelHistory): Position {
    const now = history.position(key);
    this.add(reader, key, { epoch: now?.epoch ?? null, sent: now?.offset ?? 0, live: true });
    return now ?? { epoch: '', offset: 0 };
  }

  private add(reader: R, key: string, state: ReaderState): void {
    let readers = this.byKey.get(key);
    if (!readers) this.byKey.set(key, (readers = new Map()));
    readers.set(reader, state);
    let keys = this.byReader.get(reader);
    if (!keys) this.byReader.set(reader, (keys = new Set()));
    keys.add(key);
  }

  /** True when `reader` was a positioned reader of `key`. */
  remove(reader: R, key: string): boolean {
    const readers = this.byKey.get(key);
    if (!readers?.delete(reader)) return false;
    if (readers.size === 0) this.byKey.delete(key);
    const keys = this.byReader.get(reader);
    keys?.delete(key);
    if (keys?.size === 0) this.byReader.delete(reader);
    return true;
  }

  /** The channel keys `reader` holds positions on (a copy: the access recheck removes some while it walks). */
  keysOf(reader: R): string[] {
    const keys = this.byReader.get(reader);
    return keys ? [...keys] : [];
  }

  isReading(reader: R, key: string): boolean {
    return this.byKey.get(key)?.has(reader) ?? false;
  }

  /** A closed session. */
  forget(reader: R): void {
    const keys = this.byReader.get(reader);
    if (!keys) return;
    for (const key of [...keys]) this.remove(reader, key);
  }

  /** The history's durable notice: entries of `key` up to `position.offset` may go to live readers. */
  durable(key: string, position: Position): void {
    const readers = this.byKey.get(key);
    const history = this.history();
    if (!readers || !history) return;
    // One frame per entry, shared by every reader it goes to.
    const frames = new Map<number, Uint8Array | null>();
    const frameOf = (offset: number): Uint8Array | null => {
      let frame = frames.get(offset);
      if (frame === undefined) {
        const entry = history.entry(key, offset);
        frame = entry ? encodeSignalAt(position.epoch, offset, entry.msg) : null;
        frames.set(offset, frame);
      }
      return frame;
    };
    for (const [reader, state] of readers) {
      if (!state.live) continue;
      if (state.epoch !== position.epoch) {
        // A new epoch (the first entry after a subscription from nothing, or the history was cleared): the reader
        // sees the epoch change on the frames and knows what it held is not continued.
        state.epoch = position.epoch;
        state.sent = Math.max(0, (history.oldest(key) ?? position.offset + 1) - 1);
      }
      for (let offset = state.sent + 1; offset <= position.offset; offset++) {
        // Trimmed before it became durable (a count bound below one commit's worth): the reader sees the jump.
        const frame = frameOf(offset);
        if (frame) this.send(reader, frame);
      }
      if (position.offset > state.sent) state.sent = position.offset;
    }
  }

  close(): void {
    this.byKey.clear();
    this.byReader.clear();
  }
}
