// Replay, then live, for one reader of one channel, with no gap and no duplicate at the seam
// (docs/durability.md, "How a reader recovers"). The broker joins the reader to the channel *first*, so every
// signal published from then on reaches this seam live; then it reads the history since the reader's position
// (synchronously in memory, or from Redis, which takes a while). Signals published while the read is under way
// arrive live and wait here; the read ends at the stream's top when it was made, which is at least the offset
// of every signal that arrived live before it. So the read and the held live signals overlap or meet, and
// merging them by offset gives every signal once. A reader that misses a live signal later (a delivery dropped
// for a slow consumer) is noticed here by the jump in offsets, and reads the history again from where it is.
//
// Bounds: at most `maxHeld` live signals wait during a read; past it they are let go (they are in the history:
// the next read brings them), so a slow read costs a re-read, never unbounded memory.

export interface Positioned<T> {
  readonly offset: number;
  readonly item: T;
}

/** What the broker does next: send `send` (in order); when `readFrom` is a number, read the history since it. */
export interface SeamStep<T> {
  readonly send: T[];
  readonly readFrom: number | null;
}

export const DEFAULT_MAX_HELD = 1000;

export class ReplaySeam<T> {
  private held: Array<Positioned<T>> = [];
  /** Live signals were let go while reading: the held ones do not start where the read will end. */
  private overflowed = false;
  private reading = true;
  private last: number;

  /** `since`: the reader's offset (it has everything up to it); the broker reads the history since it first. */
  constructor(
    since: number,
    private readonly maxHeld = DEFAULT_MAX_HELD,
  ) {
    this.last = since;
  }

  /** The last offset handed to the reader. */
  get position(): number {
    return this.last;
  }

  /** True once replay is done and signals go straight through. */
  get live(): boolean {
    return !this.reading;
  }

  /** A live signal for this reader. */
  onLive(offset: number, item: T): SeamStep<T> {
    if (offset <= this.last) return { send: [], readFrom: null };
    if (this.reading) {
      if (this.held.length >= this.maxHeld) {
        this.held = [];
        this.overflowed = true;
      } else if (!this.overflowed) this.held.push({ offset, item });
      return { send: [], readFrom: null };
    }
    if (offset === this.last + 1) {
      this.last = offset;
      return { send: [item], readFrom: null };
    }
    // A live signal went missing on the way to this reader: fetch what it lacks from the history.
    this.reading = true;
    this.held = [{ offset, item }];
    return { send: [], readFrom: this.last };
  }

  /**
   * A live signal for this reader was dropped on the way (the slow-consumer `drop` policy): whatever comes next,
   * the history fills the hole. The broker knows when it drops, so the hole is filled even when no later signal
   * would have shown it.
   */
  onDropped(): SeamStep<T> {
    if (this.reading) {
      this.held = [];
      this.overflowed = true;
      return { send: [], readFrom: null };
    }
    this.reading = true;
    this.held = [];
    return { send: [], readFrom: this.last };
  }

  /**
   * One read of the history since `position`: its entries in order (consecutive from position + 1), `more` when
   * the history holds more than one read returns.
   */
  onReplay(entries: ReadonlyArray<Positioned<T>>, more: boolean): SeamStep<T> {
    const send: T[] = [];
    for (const e of entries) {
      if (e.offset <= this.last) continue;
      if (e.offset !== this.last + 1) throw new Error(`history read not consecutive: ${e.offset} after ${this.last}`);
      send.push(e.item);
      this.last = e.offset;
    }
    if (more) return { send, readFrom: this.last };
    if (this.overflowed) {
      // What was let go is in the history: one more read from here, and live signals wait again meanwhile.
      this.overflowed = false;
      this.held = [];
      return { send, readFrom: this.last };
    }
    const held = this.held;
    this.held = [];
    for (let i = 0; i < held.length; i++) {
      const h = held[i]!;
      if (h.offset <= this.last) continue;
      if (h.offset !== this.last + 1) {
        // A hole between the read and what waited (a delivery dropped while reading): read again.
        this.held = held.slice(i);
        return { send, readFrom: this.last };
      }
      send.push(h.item);
      this.last = h.offset;
    }
    this.reading = false;
    return { send, readFrom: null };
  }
}
