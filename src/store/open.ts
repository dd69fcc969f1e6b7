// From the command line to a store (docs/durability.md, "Flags"): each function reads what the flags say and
// names the flag at fault when it cannot, so the server's wiring only passes values. Not wired yet (issue 17's
// broker first); io-server will call resolveDurability, then openStore, then loadOrExplain before it listens.
import { dirname } from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_HISTORY_MAX_BYTES } from '../history/channel-history.js';
import { HistoryPolicy } from '../history/policy.js';
import { moveAsideHint, StoreOpenError } from './format.js';
import { MemoryStore } from './memory-store.js';
import { RedisStore } from './redis-store.js';
import type { DurableStore, StoreVisitor } from './types.js';
import { DEFAULT_MAX_PENDING_BYTES } from './write-behind.js';

/** What the durability flags hold (strings as given). */
export interface DurabilityFlags {
  /** --data-dir <dir> | off */
  dataDir?: string;
  /** --store-max-pending <bytes> */
  storeMaxPending?: string;
  /** --history <pattern>=<count>[/<seconds>], repeatable */
  history?: readonly string[];
  /** --history-max-bytes <bytes> */
  historyMaxBytes?: string;
}

export interface DurabilityOptions {
  /** null: nothing is kept across restarts (`--data-dir off`, or no flag). */
  dataDir: string | null;
  maxPendingBytes: number;
  history: HistoryPolicy;
  historyMaxBytes: number;
}

/** Largest byte bound accepted (1 TiB): a typo's extra digits are refused rather than obeyed. */
const MAX_BYTES = 2 ** 40;

function bytes(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new Error(`${flag} must be a whole number of bytes, got "${text}"`);
  const n = Number(text);
  if (n < 1 || n > MAX_BYTES) throw new Error(`${flag} must be from 1 to ${MAX_BYTES} bytes, got ${text}`);
  return n;
}

export function resolveDurability(flags: DurabilityFlags): DurabilityOptions {
  const dir = flags.dataDir?.trim();
  if (dir === '') throw new Error('--data-dir needs a directory (or "off")');
  return {
    dataDir: dir === undefined || dir === 'off' ? null : dir,
    maxPendingBytes: bytes(flags.storeMaxPending, '--store-max-pending', DEFAULT_MAX_PENDING_BYTES),
    history: HistoryPolicy.parse(flags.history ?? []),
    historyMaxBytes: bytes(flags.historyMaxBytes, '--history-max-bytes', DEFAULT_HISTORY_MAX_BYTES),
  };
}

export interface OpenStoreOptions {
  dataDir: string | null;
  maxPendingBytes: number;
  /** In a cluster: the Redis command connection, its URL (for messages) and the cluster prefix. */
  redis?: { client: Redis | Cluster; url: string; prefix: string };
  /** The iosig version, written into the format record. */
  version: string;
  log: (line: string) => void;
  /** See WriteBehindOptions.minCommitIntervalMs. */
  minCommitIntervalMs?: number;
}

/**
 * The store the options name: Redis in a cluster, LMDB with a data directory, else memory that keeps nothing.
 * Throws a StoreOpenError (file, reason, way out) when it cannot be used; the caller exits with STORE_EXIT_CODE.
 */
export async function openStore(options: OpenStoreOptions): Promise<DurableStore> {
  const common = { maxPendingBytes: options.maxPendingBytes, version: options.version, log: options.log, minCommitIntervalMs: options.minCommitIntervalMs ?? 0 };
  if (options.redis) return RedisStore.open(options.redis.client, options.redis.url, { ...common, prefix: options.redis.prefix });
  if (options.dataDir) {
    // Loaded only here: lmdb's native module costs about 60 ms of CPU at every start of a server that keeps nothing.
    const { LmdbStore } = await import('./lmdb-store.js');
    return LmdbStore.open(options.dataDir, common);
  }
  return new MemoryStore({ ...common, volume: null });
}

/**
 * Reads the store back; a record that cannot be read stops the start with the store named and the way out,
 * instead of starting on a store half read (whose next writes would bury what could not be read). The caller
 * then exits with STORE_EXIT_CODE (the pid lock it leaves is taken over by the next start).
 */
export async function loadOrExplain(store: DurableStore, visitor: StoreVisitor): Promise<void> {
  try {
    await store.load(visitor);
  } catch (err) {
    const reason = `it cannot be read back: ${err instanceof Error ? err.message : String(err)}`;
    const wayOut = store.kind === 'lmdb' ? moveAsideHint(dirname(store.location)) : store.kind === 'redis' ? 'Nothing was changed. Remove or repair the record named (redis-cli), or use another --cluster-prefix.' : '';
    throw new StoreOpenError(store.location, reason, wayOut);
  }
}
