// The containment path for connection code. Every entry point that runs it (socket callbacks, timers, login and
// key-store continuations, CALL replies, seal-pool steps) goes through here or through `Connection.contain`, so an
// unexpected error costs that connection only: it is closed, the error is logged with the connection and counted
// (iosig_internal_errors_total), and the process goes on.

/** What containment needs from the connection whose code failed. */
export interface Contained {
  /** Counts and logs the error and tears the connection down; never throws. */
  internalError(where: string, err: unknown): void;
}

/** A connection that runs deferred code itself (skipped once closed, errors contained). */
export interface DeferredContained extends Contained {
  contain(what: string, fn: () => void): void;
}

/** Runs `fn` for `target` now, closed or not (close bookkeeping, transport callbacks). */
export function runContained(target: Contained, where: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    target.internalError(where, err);
  }
}

/**
 * A promise continuation of connection code: `then` runs through `target.contain`, and a rejection of `work`
 * itself (a key store that throws, a service host that rejects) is contained too, never left unhandled.
 */
export function containAsync<T>(target: DeferredContained, where: string, work: Promise<T>, then: (value: T) => void): void {
  work.then(
    (value) => target.contain(where, () => then(value)),
    (err: unknown) => target.internalError(`in ${where}`, err),
  );
}

/** Closes a connection whose code failed, with the error in its close reason; never throws. */
export function closeOnError(target: { close(reason: string, how: 'abort'): void }, where: string, err: unknown): void {
  try {
    target.close(`internal error ${where}: ${describeError(err)}`, 'abort');
  } catch {
    // Even the teardown failed: the link's own close path still reports back.
  }
}

/** One line for the log: the message and the first frames of the stack. */
export function describeError(err: unknown): string {
  try {
    if (!(err instanceof Error)) return String(err);
    const frames = String(err.stack ?? '').split('\n').slice(1, 4).map((line) => line.trim());
    return [`${err.name}: ${err.message}`, ...frames].join(' | ');
  } catch {
    return 'an error that cannot be described';
  }
}
