// A private redis-server for tests: a free port on 127.0.0.1, no persistence, killed by the test's after hook.
// Describe a test that starts one with { skip: redisSkipReason() }: skipped where redis-server is missing, except
// under CI=true, where a missing redis-server fails it (kit/tools.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { Deadline, sleep, withTimeout } from './wait.js';
import { needs, tool } from './tools.js';
import { freePort } from './server.js';

const START_TIMEOUT_MS = 5000;
const STOP_TIMEOUT_MS = 3000;

/** For describe(…, { skip }): a reason to skip only when redis-server is absent and this is not CI. */
export function redisSkipReason(): string | false {
  return needs('redis-server').skip ?? false;
}


export class RedisServerProcess {
  #child: ChildProcess | null = null;
  #output = '';

  private constructor(
    readonly port: number,
    /** Append-only persistence in this directory (fsync always), or none. */
    private readonly appendOnlyDir: string | null = null,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(options: { appendOnlyDir?: string } = {}): Promise<RedisServerProcess> {
    const server = new RedisServerProcess(await freePort(), options.appendOnlyDir ?? null);
    await server.restart();
    return server;
  }

  /** Starts (again) on the same port and waits until it answers PING. */
  async restart(): Promise<void> {
    if (this.#child) throw new Error('redis-server is already running');
    const persistence = this.appendOnlyDir ? ['--dir', this.appendOnlyDir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    const args = ['--save', '', ...persistence, '--port', String(this.port), '--bind', '127.0.0.1'];
    const child = spawn(tool('redis-server'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-2000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const deadline = new Deadline(START_TIMEOUT_MS);
    while (!(await answersPing(this.port))) {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.#child = null;
        throw new Error(`redis-server exited at start: ${this.#output}`);
      }
      if (deadline.expired) {
        await this.stop();
        throw new Error(`redis-server did not answer on port ${this.port} within ${START_TIMEOUT_MS} ms: ${this.#output}`);
      }
      await sleep(50);
    }
  }

  /** SIGKILL, like a crash; resolves once the process is gone. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await withTimeout(exited, STOP_TIMEOUT_MS, 'redis-server to exit');
  }
}

async function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    const finish = (ok: boolean): void => {
      socket.destroy();
      clearTimeout(timer);
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), 500);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
    socket.on('error', () => finish(false));
  });
}
