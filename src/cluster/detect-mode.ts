// `--cluster-mode auto`: a Redis Cluster gets sharded pub/sub, a plain Redis ordinary pub/sub.
import { ioredis } from '../auth/ioredis.js';
import type { RedisTarget } from '../auth/redis-target.js';
import type { ClusterMode } from './cluster-options.js';

/** Asks Redis once (INFO cluster); a Redis that does not answer within `timeoutMs` is taken as standalone. */
export async function detectClusterMode(target: RedisTarget, timeoutMs = 2000): Promise<{ mode: ClusterMode; reachable: boolean }> {
  const options = { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, commandTimeout: timeoutMs, retryStrategy: () => null };
  const { Redis } = ioredis();
  const redis = target.url ? new Redis(target.url, options) : new Redis({ ...options, host: target.host, port: target.port });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const info = await redis.info('cluster');
    return { mode: /cluster_enabled:1/.test(info) ? 'sharded' : 'standalone', reachable: true };
  } catch {
    return { mode: 'standalone', reachable: false };
  } finally {
    redis.disconnect();
  }
}
