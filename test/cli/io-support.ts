// The `io` CLI as a child process with piped stdin, shared by the io test files.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, stopChild } from '../client/support.js';
import { CHILD_PROCESS_DEADLINE_MS } from '../helpers/wait.js';

const BIN = join(ROOT, 'bin', 'io.js');
const running = new Set<ChildProcessWithoutNullStreams>();

export interface IoRun {
  child: ChildProcessWithoutNullStreams;
  out(): string;
  err(): string;
  send(line: string): void;
  /** Resolves when stdout matches `pattern`; rejects at the deadline or when the process exits first. */
  waitFor(pattern: RegExp, ms: number): Promise<RegExpMatchArray>;
  /** Exit code, or rejects after `ms`. */
  exited(ms: number): Promise<number | null>;
}

export function io(args: string[]): IoRun {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
  running.add(child);
  let out = '';
  let err = '';
  let exitCode: number | null | undefined;
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const listener of listeners) listener();
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    notify();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
    notify();
  });
  child.on('exit', (code) => {
    exitCode = code;
    notify();
  });
  child.stdin.on('error', () => undefined);

  const until = <T>(check: () => T | undefined, what: string, asked: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const ms = Math.max(asked, CHILD_PROCESS_DEADLINE_MS);
      const listener = (): void => {
        const value = check();
        if (value !== undefined) {
          finish();
          resolve(value);
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

  return {
    child,
    out: () => out,
    err: () => err,
    send: (line) => child.stdin.write(line + '\n'),
    waitFor: (pattern, ms) =>
      until(
        () => {
          const match = out.match(pattern);
          if (match) return match;
          if (exitCode !== undefined) throw new Error(`io exited (${exitCode}) before ${pattern}\nstdout:\n${out}\nstderr:\n${err}`);
          return undefined;
        },
        String(pattern),
        ms,
      ),
    exited: (ms) => until(() => (exitCode === undefined ? undefined : { code: exitCode }), 'exit', ms).then((r) => r.code),
  };
}

/** Runs io with `lines` on stdin (then EOF) and returns its output once it exits. */
export async function script(args: string[], lines: string[], ms = 8000): Promise<{ code: number | null; out: string; err: string }> {
  const run = io(args);
  run.child.stdin.end(lines.map((line) => line + '\n').join(''));
  const code = await run.exited(ms);
  return { code, out: run.out(), err: run.err() };
}

export const lineList = (text: string): string[] => text.split('\n').filter((line) => line !== '');

/** Stops every io process still running (afterEach). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => stopChild(child)));
  running.clear();
}
