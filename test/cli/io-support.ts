// The `io` CLI as a child process with piped stdin, shared by the io test files.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { watchChild, stopChild } from '../kit/child-output.js';
import { ROOT } from '../kit/server.js';

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
  const watched = watchChild(child);
  child.stdin.on('error', () => undefined);

  return {
    child,
    out: watched.out,
    err: watched.err,
    send: (line) => child.stdin.write(line + '\n'),
    waitFor: (pattern, ms) =>
      watched.until(
        () => {
          const match = watched.out().match(pattern);
          if (match) return match;
          const ended = watched.exit();
          if (ended !== undefined) throw new Error(`io exited (${ended.code}) before ${pattern}\nstdout:\n${watched.out()}\nstderr:\n${watched.err()}`);
          return undefined;
        },
        String(pattern),
        ms,
      ),
    exited: (ms) => watched.until(() => watched.exit(), 'exit', ms).then((ended) => ended.code),
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
