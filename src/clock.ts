// The time source of the code whose subject is time: the keepalive sweep, the AUTH_FAIL delay, the token buckets
// of the traffic-rate quota and the login throttle, the refusal log. Production uses the system clock; tests pass
// a manual one (ServerOptions.clock) and move time forward by hand, so timing rules are checked instantly.

/** A scheduled call; `cancel` is safe to call more than once and after it ran. */
export interface Timer {
  cancel(): void;
}

/** The time source of timers and buckets: the system clock, or a test's manual clock. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once, `ms` from now. */
  after(ms: number, fn: () => void): Timer;
  /** Calls `fn` every `ms` until cancelled. */
  every(ms: number, fn: () => void): Timer;
}

/** Date.now and node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const handle = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(handle) };
  },
  every(ms, fn) {
    const handle = setInterval(fn, ms);
    return { cancel: () => clearInterval(handle) };
  },
};
