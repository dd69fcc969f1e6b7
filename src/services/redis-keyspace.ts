// Which Redis keys the `redis` service may touch (issue 9 item 8). The key store keeps device hashes under
// `device:` in the same Redis; a level-200 caller that could read or write them could read key hashes and make
// itself a level-255 device. So the key store's space is always out of reach, and with a configured prefix
// everything outside it is too. KEYS answers are filtered the same way.
import { DEVICE_KEY_PREFIX } from '../auth/redis-store.js';
import type { RedisArg } from './redis-args.js';

/** Commands whose first argument is a key. */
const FIRST_ARG_KEY = new Set(['get', 'set', 'hgetall', 'hget', 'hset', 'sadd', 'sismember', 'smembers', 'srem']);
/** Commands whose every argument is a key. */
const ALL_ARGS_KEYS = new Set(['exists', 'del']);

export interface RedisKeyspace {
  /** Keys must start with this ('' = any key outside the key store's space). */
  prefix: string;
}

function keyText(arg: RedisArg): string {
  return Buffer.isBuffer(arg) ? arg.toString('latin1') : String(arg);
}

/** Whether one key may be touched. */
export function allowedKey(key: string, space: RedisKeyspace): boolean {
  if (key.startsWith(DEVICE_KEY_PREFIX)) return false;
  return key.startsWith(space.prefix);
}

/** Why the call is refused, or null when every key it names is allowed. */
export function refusedKeys(command: string, args: readonly RedisArg[], space: RedisKeyspace): string | null {
  const keys = FIRST_ARG_KEY.has(command) ? args.slice(0, 1) : ALL_ARGS_KEYS.has(command) ? args : [];
  for (const arg of keys) {
    const key = keyText(arg);
    if (!allowedKey(key, space)) {
      return space.prefix
        ? `key "${key}" is outside the service's prefix "${space.prefix}" (or in the key store's "${DEVICE_KEY_PREFIX}" space)`
        : `key "${key}" is in the key store's "${DEVICE_KEY_PREFIX}" space`;
    }
  }
  return null;
}

/** KEYS answers without the keys the caller may not see. */
export function visibleKeys(command: string, reply: unknown, space: RedisKeyspace): unknown {
  if (command !== 'keys' || !Array.isArray(reply)) return reply;
  return reply.filter((key) => typeof key === 'string' && allowedKey(key, space));
}
