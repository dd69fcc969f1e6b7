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

/** What `-o` prints: functions (the log sink, the clock) are left out. */
export type PrintableOptions = Omit<ServerOptions, 'log' | 'clock' | 'primary'>;

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
  return { ...options, auth, tls, cluster, adminToken: options.adminToken === null ? null : MASK };
}
