// What a spawned CLI prints and how it ends, with waits that end on a condition, on exit or at a deadline.
import type { ChildProcess } from 'node:child_process';
import { CHILD_PROCESS_DEADLINE_MS } from './wait.js';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface WatchedChild {
  out(): string;
  err(): string;
  /** How the process ended; undefined while it runs. */
  exit(): ChildExit | undefined;
  /**
   * Resolves with the first value `check` returns other than undefined, checked now, on every output and on exit;
   * rejects when `check` throws, or after `ms` (at least CHILD_PROCESS_DEADLINE_MS) with `what` and the output.
   */
  until<T>(check: () => T | undefined, what: string, ms: number): Promise<T>;
}

export function watchChild(child: ChildProcess): WatchedChild {
  let out = '';
  let err = '';
  let ended: ChildExit | undefined;
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const listener of [...listeners]) listener();
  };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    notify();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
    notify();
  });
  child.on('exit', (code, signal) => {
    ended = { code, signal };
    notify();
  });

  const until = <T>(check: () => T | undefined, what: string, asked: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const ms = Math.max(asked, CHILD_PROCESS_DEADLINE_MS);
      const listener = (): void => {
        try {
          const value = check();
          if (value === undefined) return;
          finish();
          resolve(value);
        } catch (error) {
          finish();
          reject(error);
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no ${what} within ${ms} ms\nstdout:\n${out}\nstderr:\n${err}`));
      }, ms);
      const finish = (): void => {
        clearTimeout(timer);
        listeners.delete(listener);
      };
      listeners.add(listener);
      listener();
    });

  return { out: () => out, err: () => err, exit: () => ended, until };
}

/** Kills `child` and waits (at most 2 s) for it to be gone. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const timer = setTimeout(resolvePromise, 2000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolvePromise();
    });
    child.kill('SIGKILL');
  });
}
