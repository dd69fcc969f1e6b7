// io-server's access flags (issue 18): rules (--acl, --acl-redis), outside logins (--jwt-*, --auth-hook*) and the
// rates an operator sets (--conn-rate, --level-rate). Each value is checked here, naming the flag at fault.
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { AccessOptionsInput } from '../access/access-options.js';
import { ACCESS_DEFAULTS } from '../access/access-options.js';
import { openJwtVerifier, parseHookHeader, type JwtFlags } from '../auth/identity-options.js';
import { HOOK_DEFAULTS } from '../auth/hook.js';
import { JWT_DEFAULTS } from '../auth/jwt.js';
import { redisTarget } from '../auth/redis-target.js';
import { CLUSTER_DEFAULTS } from '../cluster/cluster-options.js';
import { parseConnectionRates, parseLevelRates } from '../guard/rate-limits.js';

export interface AccessFlags {
  acl?: string;
  aclRedis?: boolean | string;
  jwtKey?: string;
  jwtSecretFile?: string;
  jwtJwks?: string;
  jwtAlgorithms?: string;
  jwtIssuer?: string[];
  jwtAudience?: string[];
  jwtLeeway?: string;
  jwtClaims?: string;
  jwtMaxLevel?: string;
  authHook?: string;
  authHookTimeout?: number;
  authHookConcurrency?: number;
  authHookQueue?: number;
  authHookTtl?: number;
  authHookNegativeTtl?: number;
  authHookOnFailure?: 'deny' | 'ignore';
  authHookStale?: number;
  authHookHeader?: string[];
  authHookMaxLevel?: number;
  connRate?: string;
  levelRate?: string[];
}

function wholeNumber(text: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new InvalidArgumentError('expected a whole number.');
  return Number(text);
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function addAccessOptions(command: Command): Command {
  const h = HOOK_DEFAULTS;
  return command
    .option('--acl <file>', `access rules (README, Security): read at start, again on SIGHUP and when the file changes (looked at every ${ACCESS_DEFAULTS.aclWatchMs} ms); an unusable file is refused whole`)
    .option('--acl-redis [url]', `access rules in Redis (<prefix>:acl, every node reloads within a second of a change; default: the --cluster URL, else REDIS_URL…)`)
    .option('--jwt-key <file>', 'JWT logins: a public key (PEM, certificate, JWK or JWK set)')
    .option('--jwt-secret-file <file>', 'JWT logins: an HMAC secret (at least 32 bytes; or IOSIG_JWT_SECRET)')
    .option('--jwt-jwks <url>', 'JWT logins: a JWKS URL (https, or http to this host), fetched at start and rotated')
    .option('--jwt-algorithms <list>', 'accepted JWT algorithms (default: every one the key is for)')
    .option('--jwt-issuer <iss...>', 'accepted iss values (default: not checked)')
    .option('--jwt-audience <aud...>', 'accepted aud values (default: not checked)')
    .option('--jwt-leeway <s>', `clock skew allowed on exp, nbf, iat (default: ${JWT_DEFAULTS.leewaySec})`)
    .option('--jwt-claims <map>', 'which claims carry what (default: did=sub,cid=cid,level=level,rights=rights)')
    .option('--jwt-max-level <n>', `the highest level a token may give (default: ${JWT_DEFAULTS.maxLevel})`)
    .option('--auth-hook <url>', 'logins (and rights) decided by an HTTP service (https, or http to this host); README, Security')
    .option('--auth-hook-timeout <ms>', `time limit of one decision (default: ${h.timeoutMs})`, wholeNumber)
    .option('--auth-hook-concurrency <n>', `requests in flight (default: ${h.concurrency})`, wholeNumber)
    .option('--auth-hook-queue <n>', `requests waiting; one more is refused at once (default: ${h.queue})`, wholeNumber)
    .option('--auth-hook-ttl <ms>', `how long an allow is reused (default: ${h.cacheTtlMs})`, wholeNumber)
    .option('--auth-hook-negative-ttl <ms>', `how long a deny or ignore is reused (default: ${h.negativeTtlMs})`, wholeNumber)
    .addOption(new Option('--auth-hook-on-failure <policy>', `a slow, down or lying hook refuses the login (deny) or passes it on (ignore) (default: ${h.onFailure})`).choices(['deny', 'ignore']))
    .option('--auth-hook-stale <ms>', `while the hook fails, a cached allow expired less than this ago is used (default: ${h.staleIfErrorMs}, off)`, wholeNumber)
    .option('--auth-hook-header <header>', 'a header sent with every request ("Name: value"; repeatable)', collect)
    .option('--auth-hook-max-level <n>', `the highest level the hook may give (default: ${h.maxLevel})`, wholeNumber)
    .option('--conn-rate <rates>', 'new connections per second per listener: ws=100/s:200,cong=50/s,all=300/s (default: off)')
    .option('--level-rate <level=rates>', 'message and byte rates of a level under --quota trafficRate: 3=100msg/s:200,64KiB/s (repeatable)', collect);
}

/** The access part of the server options; throws naming the flag at fault. */
export async function accessInput(
  opts: AccessFlags & { cluster?: boolean | string; clusterPrefix?: string },
  log: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AccessOptionsInput | undefined> {
  const input: AccessOptionsInput = {};
  if (opts.acl !== undefined) input.aclFile = opts.acl;
  if (opts.aclRedis !== undefined) {
    const url = typeof opts.aclRedis === 'string' ? opts.aclRedis : typeof opts.cluster === 'string' ? opts.cluster : undefined;
    input.aclRedis = { target: redisTarget(url, env), prefix: opts.clusterPrefix ?? CLUSTER_DEFAULTS.prefix, pollMs: ACCESS_DEFAULTS.aclRedisPollMs };
  }
  const jwtFlags: JwtFlags = {
    key: opts.jwtKey,
    secretFile: opts.jwtSecretFile,
    jwks: opts.jwtJwks,
    algorithms: opts.jwtAlgorithms,
    issuer: opts.jwtIssuer,
    audience: opts.jwtAudience,
    leeway: opts.jwtLeeway,
    claims: opts.jwtClaims,
    maxLevel: opts.jwtMaxLevel,
  };
  const verifier = await openJwtVerifier(jwtFlags, log, env);
  if (verifier) input.jwt = verifier;
  if (opts.authHook !== undefined) {
    const headers = Object.fromEntries((opts.authHookHeader ?? []).map(parseHookHeader));
    input.authHook = {
      url: opts.authHook,
      ...(opts.authHookTimeout !== undefined ? { timeoutMs: opts.authHookTimeout } : {}),
      ...(opts.authHookConcurrency !== undefined ? { concurrency: opts.authHookConcurrency } : {}),
      ...(opts.authHookQueue !== undefined ? { queue: opts.authHookQueue } : {}),
      ...(opts.authHookTtl !== undefined ? { cacheTtlMs: opts.authHookTtl } : {}),
      ...(opts.authHookNegativeTtl !== undefined ? { negativeTtlMs: opts.authHookNegativeTtl } : {}),
      ...(opts.authHookOnFailure !== undefined ? { onFailure: opts.authHookOnFailure } : {}),
      ...(opts.authHookStale !== undefined ? { staleIfErrorMs: opts.authHookStale } : {}),
      ...(opts.authHookMaxLevel !== undefined ? { maxLevel: opts.authHookMaxLevel } : {}),
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
    };
  } else {
    const stray = Object.keys(opts).find((k) => k.startsWith('authHook'));
    if (stray) throw new Error(`--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --auth-hook <url>`);
  }
  if (opts.connRate !== undefined) input.connectionRates = parseConnectionRates(opts.connRate);
  if (opts.levelRate !== undefined) input.levelRates = parseLevelRates(opts.levelRate);
  return Object.keys(input).length > 0 ? input : undefined;
}
