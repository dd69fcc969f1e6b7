// Recent signals for the dashboard. It listens to the server's 'signal' event only while a reader is
// connected, so the broker emits nothing when no dashboard is open; bursts are thinned to a few frames a second.
import type { EventEmitter } from 'node:events';
import type { SignalInfo } from '../server-view.js';
import type { TailEntry, TailFrame } from './dashboard-types.js';
import { payloadPreview } from './payload-preview.js';

export const SIGNAL_EVENT = 'signal';
const KEEP = 100;
const FLUSH_MS = 250;
const MAX_PER_FLUSH = 50;

export class MessageTail {
  private readonly kept: TailEntry[] = [];
  private pending: TailEntry[] = [];
  private skipped = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly listener = (signal: SignalInfo): void => {
    this.add({
      time: signal.time,
      tag: signal.tag,
      payloadType: signal.payloadType,
      bytes: signal.size,
      from: signal.from,
      preview: payloadPreview(signal.payloadType, signal.payload),
    });
  };

  constructor(
    private readonly events: EventEmitter,
    private readonly onFrame: (frame: TailFrame) => void,
  ) {}

  get active(): boolean {
    return this.flushTimer !== null;
  }

  /** Listens while someone reads; stops listening (and costing anything) when nobody does. */
  setActive(active: boolean): void {
    if (active === this.active) return;
    if (active) {
      this.events.on(SIGNAL_EVENT, this.listener);
      this.flushTimer = setInterval(() => this.flush(), FLUSH_MS);
      this.flushTimer.unref();
      return;
    }
    this.events.off(SIGNAL_EVENT, this.listener);
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = null;
    this.pending = [];
    this.skipped = 0;
  }

  add(entry: TailEntry): void {
    this.kept.push(entry);
    if (this.kept.length > KEEP) this.kept.shift();
    if (!this.active) return;
    if (this.pending.length < MAX_PER_FLUSH) this.pending.push(entry);
    else this.skipped++;
  }

  /** Oldest first. */
  recent(): TailEntry[] {
    return [...this.kept];
  }

  private flush(): void {
    if (this.pending.length === 0 && this.skipped === 0) return;
    const frame: TailFrame = { entries: this.pending, skipped: this.skipped };
    this.pending = [];
    this.skipped = 0;
    this.onFrame(frame);
  }

  close(): void {
    this.setActive(false);
  }
}
