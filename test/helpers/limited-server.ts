// An io-server child process under a lower open-file limit (`ulimit -n`), watched from outside as an attacker's
// target would be: its bound ports, its log, its open descriptors and whether its event loop spins.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { watchChild, type WatchedChild } from './child-output.js';
import { sleep } from './wait.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = resolve(ROOT, 'bin', 'io-server.js');
const PORTS = /ports: websocket (\d+|off), congsocket (\d+|off)/;

export class LimitedServer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly watched: WatchedChild,
    readonly wsPort: number,
    readonly congPort: number,
  ) {}

  /** Starts `io-server -l 0 -L 0 --host 127.0.0.1 -o <args>` with `ulimit -n <fdLimit>`; resolves once it listens. */
  static async start(args: readonly string[], fdLimit: number): Promise<LimitedServer> {
    // exec keeps the pid: /proc/<pid> is the server itself.
    const script = `ulimit -n ${fdLimit} && exec "$0" "$@"`;
    const child = spawn('bash', ['-c', script, process.execPath, BIN, '-l', '0', '-L', '0', '--host', '127.0.0.1', '-o', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const watched = watchChild(child);
    try {
      const [ws, cong] = await watched.until(
        () => {
          if (watched.exit()) throw new Error(`io-server exited: ${watched.out()}${watched.err()}`);
          const m = PORTS.exec(watched.out());
          return m ? [Number(m[1]), Number(m[2])] : undefined;
        },
        'io-server to listen',
        0,
      );
      return new LimitedServer(child, watched, ws!, cong!);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** What it printed so far. */
  log(): string {
    return this.watched.out() + this.watched.err();
  }

  /** Resolves once `pattern` appears in the log (at most `ms`, and never less than the child-process deadline). */
  async logged(pattern: RegExp, ms: number): Promise<void> {
    await this.watched.until(() => (pattern.test(this.log()) ? true : undefined), `a log line ${pattern}`, ms);
  }

  openDescriptors(): number {
    return readdirSync(`/proc/${this.pid}/fd`).length;
  }

  /**
   * The share of `ms` its main thread spent running or runnable (/proc/<pid>/schedstat: run time plus run-queue
   * wait). A loop that spins is near 1 however loaded the machine is; an idle server near 0. Where schedstat is
   * missing, the CPU time (utime + stime) is used, which a busy machine can hold down.
   */
  async busyShare(ms: number): Promise<number> {
    const read = (): number => {
      try {
        const [run, wait] = readFileSync(`/proc/${this.pid}/schedstat`, 'utf8').split(' ').map(Number);
        return (run! + wait!) / 1e6;
      } catch {
        const fields = readFileSync(`/proc/${this.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
      }
    };
    const start = read();
    const t0 = performance.now();
    await sleep(ms);
    return (read() - start) / (performance.now() - t0);
  }

  async kill(): Promise<void> {
    if (this.watched.exit()) return;
    const exited = new Promise<void>((done) => this.child.once('exit', () => done()));
    this.child.kill('SIGKILL');
    await exited;
  }
}
