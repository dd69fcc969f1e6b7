// When the supervisor of `io-server --workers` starts a dead worker again. The primary never gives up on a worker
// slot (a supervisor that restarts only on failure would not bring back a primary that exited 0, and one that
// exited non-zero would take the healthy workers down with it); instead a slot whose workers keep dying waits
// longer each time: base, 2 × base, 4 × base … up to the cap. A worker that lived `stableMs` starts the count anew.

export interface BackoffOptions {
  /** Delay after a first death (ms). */
  baseMs: number;
  /** Longest delay (ms). */
  maxMs: number;
  /** A worker that lived this long before dying was not part of a crash loop (ms). */
  stableMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, maxMs: 30_000, stableMs: 60_000 };

/** Back-off options with the cap an operator chose (`--worker-restart-max`); the base never exceeds the cap. */
export function backoffWithCap(maxMs: number | undefined): BackoffOptions {
  if (maxMs === undefined) return DEFAULT_BACKOFF;
  return { ...DEFAULT_BACKOFF, maxMs, baseMs: Math.min(DEFAULT_BACKOFF.baseMs, maxMs) };
}

/** One worker slot's crash streak. */
export class RestartBackoff {
  /** Deaths in a row of workers that lived less than stableMs. */
  streak = 0;

  constructor(private readonly options: BackoffOptions = DEFAULT_BACKOFF) {}

  /** A worker of this slot died after living `livedMs`; returns how long to wait before starting the next one. */
  died(livedMs: number): number {
    this.streak = livedMs >= this.options.stableMs ? 1 : this.streak + 1;
    const { baseMs, maxMs } = this.options;
    return Math.min(maxMs, baseMs * 2 ** Math.min(this.streak - 1, 30));
  }
}
