// An io-server child process under a lower open-file limit (`ulimit -n`), watched from outside as an attacker's
// target would be: its bound ports, its log, its open descriptors and whether its event loop spins.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { watchChild, type WatchedChild } from './child-output.js';
import { sleep } from './wait.js';
import { ROOT } from './server.js';

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
   * How its main thread spent `ms`: how often it went to sleep (voluntary context switches, /proc/<pid>/status)
   * and its CPU time (utime + stime) as a share of the time. A spinning event loop never sleeps — it is only ever
   * preempted — while a live idle server wakes for its own timers (the event-loop delay histogram every 20 ms)
   * and sleeps again each time; the CPU share of a spinning loop depends on how busy the machine is, the sleeps
   * do not.
   */
  async loopActivity(ms: number): Promise<{ sleepsPerSecond: number; cpuShare: number }> {
    const read = (): { sleeps: number; cpuMs: number } => {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const fields = readFileSync(`/proc/${this.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return {
        sleeps: Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0),
        // utime and stime, in clock ticks of 10 ms (USER_HZ 100 on Linux)
        cpuMs: (Number(fields[11]) + Number(fields[12])) * 10,
      };
    };
    const start = read();
    const t0 = performance.now();
    await sleep(ms);
    const end = read();
    const elapsed = performance.now() - t0;
    return { sleepsPerSecond: ((end.sleeps - start.sleeps) * 1000) / elapsed, cpuShare: (end.cpuMs - start.cpuMs) / elapsed };
  }

  async kill(): Promise<void> {
    if (this.watched.exit()) return;
    const exited = new Promise<void>((done) => this.child.once('exit', () => done()));
    this.child.kill('SIGKILL');
    await exited;
  }
}
