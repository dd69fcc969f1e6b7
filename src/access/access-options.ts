// The options of issue 18's surfaces as the broker takes them (docs in README, Security): where rules come from,
// the outside login sources, and the rates an operator sets. With every field at its default nothing changes.
import type { RedisTarget } from '../auth/redis-target.js';
import type { JwtOptions, JwtVerifier } from '../auth/jwt.js';
import type { HookOptions } from '../auth/hook.js';
import type { TrafficRates } from '../guard/rate-spec.js';
import type { ConnectionRates } from '../guard/rate-limits.js';
import { ACL_REDIS_DEFAULTS } from './acl-redis.js';

/** Where the rules of `--acl-redis` live and how often their version is looked at. */
export interface AclRedisSettings {
  target: RedisTarget;
  /** The cluster's key prefix (`--cluster-prefix`). */
  prefix: string;
  /** How often `version` is looked at besides the notifications (ms). */
  pollMs: number;
}

/** The access options of a server, resolved (`ServerOptions.access`). */
export interface AccessOptions {
  /** `--acl <file>`: read at start (an unusable file stops the start), again on SIGHUP and when it changes. */
  aclFile: string | null;
  /** Rules given as ACL text (library use); refused whole at start when unusable. */
  aclText: string | null;
  /** `--acl-redis`: rules in the cluster's Redis (every node reloads within a second of a change). */
  aclRedis: AclRedisSettings | null;
  /** Look at the ACL file's modification time every this many ms and reload when it changed; 0 = SIGHUP only. */
  aclWatchMs: number;
  /** JWT logins: a verifier or its options; null = off. */
  jwt: JwtVerifier | JwtOptions | null;
  /** `--auth-hook <url>` and its bounds; null = off. */
  authHook: (Partial<Omit<HookOptions, 'log' | 'url'>> & { url: string }) | null;
  /** `--level-rate`: message and byte rates per level (with `--quota trafficRate`). */
  levelRates: ReadonlyMap<number, TrafficRates>;
  /** `--conn-rate`: new connections per second per listener. */
  connectionRates: ConnectionRates;
}

/** Defaults of the access options that have one. */
export const ACCESS_DEFAULTS = {
  aclWatchMs: 1000,
  aclRedisPollMs: ACL_REDIS_DEFAULTS.pollMs,
} as const;

/** What `createServer({ access })` takes: any of the access options. */
export type AccessOptionsInput = Partial<AccessOptions>;

/** The access options with their defaults applied. */
export function resolveAccessOptions(input: AccessOptionsInput = {}): AccessOptions {
  if (input.aclFile && input.aclText) throw new Error('iosig: give the ACL as a file or as text, not both');
  return {
    aclFile: input.aclFile ?? null,
    aclText: input.aclText ?? null,
    aclRedis: input.aclRedis ?? null,
    aclWatchMs: Math.max(0, input.aclWatchMs ?? ACCESS_DEFAULTS.aclWatchMs),
    jwt: input.jwt ?? null,
    authHook: input.authHook ?? null,
    levelRates: input.levelRates ?? new Map(),
    connectionRates: input.connectionRates ?? {},
  };
}

/** Rules are configured in some source (then what no rule allows is denied). */
export const hasRules = (o: AccessOptions): boolean => o.aclFile !== null || o.aclText !== null || o.aclRedis !== null;
