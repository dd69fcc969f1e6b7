// A private redis-server with append-only persistence for the durability tests: a free port on 127.0.0.1, its own
// directory, `--appendonly yes --appendfsync always` (every acknowledged write is on disk before the reply, so a
// SIGKILL of redis-server loses nothing it acknowledged: the rule under test is iosig's, not Redis's fsync timer;
// `everysec` would let a kill lose up to a second and make the test's expectation depend on timing).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, REDIS_SERVER_BIN } from '../auth/redis-server.js';
import { Deadline, sleep, withTimeout } from '../helpers/wait.js';

export { redisSkipReason } from '../auth/redis-server.js';

const START_TIMEOUT_MS = 10_000;

export class DurableRedis {
  #child: ChildProcess | null = null;
  #output = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<DurableRedis> {
    if (!REDIS_SERVER_BIN) throw new Error('redis-server is not installed, and CI=true requires the Redis tests to run');
    const server = new DurableRedis(await freePort(), mkdtempSync(join(tmpdir(), 'iosig-aof-')));
    await server.restart();
    return server;
  }

  /** A client that fails fast instead of queueing while Redis is down. */
  client(): Redis {
    const redis = new Redis(this.port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 50, 500), enableOfflineQueue: true });
    redis.on('error', () => undefined);
    return redis;
  }

  async restart(): Promise<void> {
    if (this.#child) throw new Error('redis-server is already running');
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'];
    const child = spawn(REDIS_SERVER_BIN ?? 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-2000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const probe = new Redis(this.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    const deadline = new Deadline(START_TIMEOUT_MS);
    try {
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server exited at start: ${this.#output}`);
        try {
          if (probe.status !== 'ready') await probe.connect();
          // LOADING answers an error until the append-only file is read back.
          if ((await probe.ping()) === 'PONG') return;
        } catch {
          probe.disconnect();
        }
        if (deadline.expired) throw new Error(`redis-server did not answer on port ${this.port}: ${this.#output}`);
        await sleep(50);
      }
    } finally {
      probe.disconnect();
    }
  }

  /** SIGKILL, like a crash. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await withTimeout(exited, 5000, 'redis-server to exit');
  }

  async destroy(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
