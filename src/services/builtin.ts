// The services `io-server -a` can attach by name (docs/protocol.md §7.4).
import { redisTarget } from '../auth/redis-target.js';
import type { Service } from './service.js';
import { createReplyService } from './reply.js';
import { createSudoService } from './sudo.js';
import { RedisService } from './redis.js';

export const BUILTIN_SERVICE_NAMES = ['reply', 'sudo', 'redis'] as const;
export type BuiltinServiceName = (typeof BUILTIN_SERVICE_NAMES)[number];

export interface BuiltinServiceOptions {
  /** sudo: let getauth return stored keys (Q23); off by default. */
  revealKeys?: boolean;
  /** redis: where to connect; else REDIS_URL, REDIS_HOST/REDIS_PORT, localhost:6379. */
  redisUrl?: string;
  /** redis: the only keys callers may touch; default '' = any key but the key store's `device:` hashes. */
  redisPrefix?: string;
  log?: (line: string) => void;
}

export function isBuiltinServiceName(name: string): name is BuiltinServiceName {
  return (BUILTIN_SERVICE_NAMES as readonly string[]).includes(name);
}

/** A new instance of a built-in service; throws for a name that is not built in. */
export function createBuiltinService(name: string, options: BuiltinServiceOptions = {}): Service {
  if (!isBuiltinServiceName(name)) {
    throw new Error(`unknown service "${name}": the built-in services are ${BUILTIN_SERVICE_NAMES.join(', ')}`);
  }
  switch (name) {
    case 'reply':
      return createReplyService();
    case 'sudo':
      return createSudoService(options.revealKeys === undefined ? {} : { revealKeys: options.revealKeys });
    case 'redis':
      return new RedisService(redisTarget(options.redisUrl, process.env), options.log ?? (() => undefined), options.redisPrefix ?? '');
  }
}
