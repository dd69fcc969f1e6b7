// A private redis-server with append-only persistence for the durability tests: a free port on 127.0.0.1, its own
// directory, `--appendonly yes --appendfsync always` (every acknowledged write is on disk before the reply, so a
// SIGKILL of redis-server loses nothing it acknowledged: the rule under test is iosig's, not Redis's fsync timer;
// `everysec` would let a kill lose up to a second and make the test's expectation depend on timing).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisServerProcess } from '../kit/redis-server.js';

export { redisSkipReason } from '../kit/redis-server.js';

export class DurableRedis {
  private constructor(
    private readonly server: RedisServerProcess,
    readonly dir: string,
  ) {}

  get port(): number {
    return this.server.port;
  }

  get url(): string {
    return this.server.url;
  }

  static async start(): Promise<DurableRedis> {
    const dir = mkdtempSync(join(tmpdir(), 'iosig-aof-'));
    return new DurableRedis(await RedisServerProcess.start({ appendOnlyDir: dir }), dir);
  }

  /** A client that retries quickly while Redis restarts. */
  client(): Redis {
    const redis = new Redis(this.port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 50, 500) });
    redis.on('error', () => undefined);
    return redis;
  }

  /** Starts again on the same port and directory; resolves once the append-only file is read back. */
  restart(): Promise<void> {
    return this.server.restart();
  }

  /** SIGKILL, like a crash. */
  kill(): Promise<void> {
    return this.server.stop();
  }

  async destroy(): Promise<void> {
    await this.server.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
