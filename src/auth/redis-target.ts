// Where iosig's Redis clients connect (Q17): an explicit URL, else REDIS_URL, else REDIS_HOST/REDIS_PORT, else
// localhost:6379 — and how: every client fails fast while Redis is away and reconnects in the background.
import type { Redis, RedisOptions } from 'ioredis';
import { ioredis } from './ioredis.js';
/** Where a Redis client connects, and a label for the log (never the password). */
export interface RedisTarget {
  /** Set when the connection comes from a URL (it may hold credentials, so never print it). */
  url?: string;
  host: string;
  port: number;
  /** For messages: scheme, host, port and database, without credentials. */
  label: string;
}

const DEFAULT_HOST = 'localhost';
const DEFAULT_PORT = 6379;

/** The target: `explicitUrl`, else REDIS_URL, else REDIS_HOST / REDIS_PORT, else localhost:6379. */
export function redisTarget(explicitUrl: string | undefined, env: NodeJS.ProcessEnv): RedisTarget {
  const url = explicitUrl || env['REDIS_URL'];
  if (url) return targetFromUrl(url);
  const host = env['REDIS_HOST'] || DEFAULT_HOST;
  const port = env['REDIS_PORT'] ? parsePort(env['REDIS_PORT'], 'REDIS_PORT') : DEFAULT_PORT;
  return { host, port, label: `${host}:${port}` };
}

function targetFromUrl(url: string): RedisTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('the Redis URL is not valid (expected redis://[user:password@]host[:port][/db])');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`the Redis URL must start with redis:// or rediss://, not ${parsed.protocol}//`);
  }
  const host = parsed.hostname || DEFAULT_HOST;
  const port = parsed.port ? parsePort(parsed.port, 'the Redis URL port') : DEFAULT_PORT;
  const database = parsed.pathname.length > 1 ? parsed.pathname : '';
  return { url, host, port, label: `${parsed.protocol}//${host}:${port}${database}` };
}

function parsePort(text: string, what: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${what} must be a port number, got "${text}"`);
  return port;
}

/** No offline queue, one retry, bounded connect and command time: callers get an error, never a hang. */
const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 1000,
  commandTimeout: 1500,
  retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
};

/** A client for `target` that fails fast during outages (the key store and the redis service share this). */
export function connectRedis(target: RedisTarget): Redis {
  const { Redis } = ioredis();
  return target.url ? new Redis(target.url, FAIL_FAST) : new Redis({ ...FAIL_FAST, host: target.host, port: target.port });
}
