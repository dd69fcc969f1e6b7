// Small deadline helpers for integration tests: every wait in a test has an explicit limit.

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Least time to allow a wait that involves a child node process: starting node takes seconds on a loaded
 * two-core machine, more under coverage. Only a failure waits this long; a passing wait ends at its event.
 */
export const CHILD_PROCESS_DEADLINE_MS = 45_000;

export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`timed out after ${ms} ms waiting for ${what}`);
    this.name = 'TimeoutError';
  }
}

/** Resolves with `p`, or rejects with a TimeoutError after `ms`. The timer is always cleared. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
  });
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` every `intervalMs` until it is true; throws a TimeoutError after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean,
  timeoutMs: number,
  what: string,
  intervalMs = 10,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return;
    if (Date.now() >= end) throw new TimeoutError(what, timeoutMs);
    await sleep(Math.min(intervalMs, Math.max(1, end - Date.now())));
  }
}

/** Like waitFor, but returns false instead of throwing when the time is up. */
export async function pollUntil(cond: () => boolean, timeoutMs: number, intervalMs = 10): Promise<boolean> {
  try {
    await waitFor(cond, timeoutMs, 'condition', intervalMs);
    return true;
  } catch (err) {
    if (err instanceof TimeoutError) return false;
    throw err;
  }
}

/** A fixed point in time, for loops that share one budget. */
export class Deadline {
  readonly end: number;
  constructor(readonly ms: number) {
    this.end = Date.now() + ms;
  }
  get remaining(): number {
    return Math.max(0, this.end - Date.now());
  }
  get expired(): boolean {
    return Date.now() >= this.end;
  }
}
