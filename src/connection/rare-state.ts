// What few sessions ever have, made on first use (connection.ts): idle connections carry one empty field for all
// of it — the close reason, the quota check, the timers that die with the session and the waiters for its next
// sign of life (a duplicate login's probe, guard/duplicate-login.ts).
import type { Clock, Timer } from '../clock.js';
import type { QuotaCheck } from './quota-check.js';

export class RareState {
  /** Why the server closed it (for logs); empty when the peer went away. */
  closeReason = '';
  /** Made by the first message when a quota switch is on. */
  quotas: QuotaCheck | null = null;
  timers: Set<Timer> | null = null;
  /** Waiting for the next sign of life (a duplicate login's probe); rarely more than one. */
  heardWaiters: (() => void)[] | null = null;

  /** A sign of life: every waiter runs, once. */
  heard(): void {
    const waiters = this.heardWaiters;
    if (!waiters) return;
    this.heardWaiters = null;
    for (const wake of waiters) wake();
  }

  /** `heard` runs at the next sign of life; the function returned takes it back. */
  onceHeard(heard: () => void): () => void {
    (this.heardWaiters ??= []).push(heard);
    return () => {
      const at = this.heardWaiters?.indexOf(heard) ?? -1;
      if (at >= 0) this.heardWaiters!.splice(at, 1);
    };
  }

  /** `fn` in `ms` on `clock`, unless the session ends first (cancelTimers). */
  later(clock: Clock, ms: number, fn: () => void): void {
    const timers = (this.timers ??= new Set());
    const timer = clock.after(ms, () => {
      timers.delete(timer);
      fn();
    });
    timers.add(timer);
  }

  cancelTimers(): void {
    const timers = this.timers;
    if (!timers) return;
    for (const timer of timers) timer.cancel();
    this.timers = null;
  }
}
