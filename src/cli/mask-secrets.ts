// `-o` prints the resolved options; keys, tokens and passwords in them are replaced by `***` first, so the
// printout can be shared (and lands in service logs) without handing out device keys or the admin token.
import type { ServerOptions } from '../options.js';

const MASK = '***';

/** `id.key.cid.level,...` with every key masked (the format of -e and BOHO_AUTH). */
export function maskAuthParam(list: string): string {
  return list
    .split(',')
    .map((entry) => {
      const parts = entry.split('.');
      if (parts.length < 2) return entry === '' ? entry : MASK;
      parts[1] = MASK;
      return parts.join('.');
    })
    .join(',');
}

/** A Redis URL with its password (and a user-only secret) masked. */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = MASK;
    else if (parsed.username) parsed.username = MASK;
    return parsed.toString();
  } catch {
    return url.includes('@') ? `${MASK}@${url.slice(url.lastIndexOf('@') + 1)}` : url;
  }
}

/** What `-o` prints: functions (the log sink, the clock) are left out; the access options as a description. */
export type PrintableOptions = Omit<ServerOptions, 'log' | 'clock' | 'primary' | 'access'> & { access: ServerOptions['access'] | Record<string, unknown> };

/** The access options without a JWT key or secret, the hook's header values or a Redis password. */
function printableAccess(access: ServerOptions['access']): Record<string, unknown> {
  const { jwt, authHook, aclRedis } = access;
  return {
    ...access,
    jwt: jwt === null ? null : `on (${'algorithms' in jwt && Array.isArray(jwt.algorithms) ? jwt.algorithms.join(', ') : 'key given'}; key not shown)`,
    authHook: authHook && { ...authHook, ...(authHook.headers ? { headers: Object.fromEntries(Object.keys(authHook.headers).map((name) => [name, MASK])) } : {}) },
    aclRedis: aclRedis && { ...aclRedis, target: { ...aclRedis.target, ...(aclRedis.target.url !== undefined ? { url: maskUrl(aclRedis.target.url) } : {}) } },
  };
}

/** The options as printed: secrets masked, the cluster's engine as data. */
export type MaskedOptions = Omit<PrintableOptions, 'cluster'> & { cluster: unknown };

export function maskSecrets(options: PrintableOptions): MaskedOptions {
  const auth = options.auth && {
    ...options.auth,
    ...(options.auth.param !== undefined ? { param: maskAuthParam(options.auth.param) } : {}),
    ...(typeof options.auth.redis === 'string' ? { redis: maskUrl(options.auth.redis) } : {}),
  };
  const tls = options.tls && { ...options.tls, ...(options.tls.passphrase !== undefined ? { passphrase: MASK } : {}) };
  // The cluster's Redis URL may carry a password too; the other engines are shown by kind (their hub or pipe is
  // an object of this process).
  const engine = options.cluster?.engine;
  const cluster = options.cluster && {
    ...options.cluster,
    engine:
      engine?.kind === 'redis'
        ? { ...engine, target: { ...engine.target, ...(engine.target.url !== undefined ? { url: maskUrl(engine.target.url) } : {}) } }
        : { kind: engine!.kind },
  };
  const access = 'levelRates' in options.access ? printableAccess(options.access as ServerOptions['access']) : options.access;
  return { ...options, auth, tls, cluster, access, adminToken: options.adminToken === null ? null : MASK };
}
