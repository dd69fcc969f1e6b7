// A clock that moves only when a test says so (ServerOptions.clock): keepalive periods, the AUTH_FAIL delay and
// the token buckets are then checked at exact instants, without waiting for them.
import type { Clock, Timer } from '../../src/clock.js';

interface Entry {
  due: number;
  /** Scheduling order, so timers due at the same instant run in the order they were set. */
  order: number;
  fn: () => void;
  /** Repeats every `period` ms (every); null for a one-shot timer (after). */
  period: number | null;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  private time: number;
  private order = 0;
  private entries: Entry[] = [];

  /** Starts at a fixed, realistic epoch time, so nothing depends on when the test runs. */
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  after(ms: number, fn: () => void): Timer {
    return this.add(Math.max(0, ms), fn, null);
  }

  every(ms: number, fn: () => void): Timer {
    return this.add(Math.max(1, ms), fn, Math.max(1, ms));
  }

  /** Timers set and not yet run or cancelled (an interval counts once). */
  get pending(): number {
    return this.entries.length;
  }

  /**
   * Moves time forward by `ms`, running every timer that falls due on the way in due-time order (the clock reads
   * each timer's own instant while it runs). Timers set by those callbacks run too if they fall due in the window.
   */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const next = this.earliest();
      if (!next || next.due > end) break;
      this.time = next.due;
      if (next.period === null) this.remove(next);
      else {
        next.due += next.period;
        next.order = ++this.order;
      }
      next.fn();
    }
    this.time = end;
  }

  private add(ms: number, fn: () => void, period: number | null): Timer {
    const entry: Entry = { due: this.time + ms, order: ++this.order, fn, period, cancelled: false };
    this.entries.push(entry);
    return {
      cancel: () => {
        if (entry.cancelled) return;
        entry.cancelled = true;
        this.remove(entry);
      },
    };
  }

  private remove(entry: Entry): void {
    const at = this.entries.indexOf(entry);
    if (at >= 0) this.entries.splice(at, 1);
  }

  private earliest(): Entry | undefined {
    let best: Entry | undefined;
    for (const entry of this.entries) {
      if (!best || entry.due < best.due || (entry.due === best.due && entry.order < best.order)) best = entry;
    }
    return best;
  }
}
