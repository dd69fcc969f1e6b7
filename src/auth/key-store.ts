// The one interface every key provider implements (docs/protocol.md §4.2), plus the level and key rules shared by all.
import { keyFromStored } from '../crypto/keys.js';
import { DEFAULT_LEVEL, QUOTA_TABLE } from '../protocol/codes.js';

/** One device as a store holds it. */
export interface DeviceRecord {
  id: string;
  /** Stored form: the 44-character base64 of K, or a plain key. */
  key: string;
  cid: string;
  /** The raw stored value (number, string or undefined); read it through resolveLevel. */
  level: unknown;
  uid?: string;
  name?: string;
}

/** What a reload of a key file did: the keys now in use, or why the previous ones stay. */
export type ReloadResult = { ok: true; count: number } | { ok: false; error: string };

/** Which source a store reads: `-d` file, `-e` parameter, `-E` environment, `-r` Redis. */
export type KeyStoreKind = 'file' | 'param' | 'env' | 'redis';

/** Where stores send warnings and notices (one line each, never a key). */
export type AuthLog = (message: string) => void;

/** Device keys by id, wherever they are kept (file, parameter, environment, Redis); services reach it too. */
export interface KeyStore {
  readonly kind: KeyStoreKind;
  /** null = unknown id (a Redis hash without `key` counts as unknown); rejects when the store is unreachable. */
  lookup(id: string): Promise<DeviceRecord | null>;
  /** Stores the hashed 44-character form of `key`; replaces an existing id. */
  add(id: string, key: string, cid: string, level: number): Promise<void>;
  /** true when the id existed. */
  remove(id: string): Promise<boolean>;
  list(): Promise<string[]>;
  close(): Promise<void>;
}

/** Length of a stored key: the base64 of its SHA-256. */
export const STORED_HASH_LENGTH = 44;

/**
 * The quota level of a login (§4.2, Q13): a falsy stored level (missing, 0, '', NaN) means the default 3,
 * anything else goes through parseInt. null when the result is not in the quota table (the login fails).
 */
export function resolveLevel(raw: unknown): number | null {
  // parseInt without a radix, as the reference does, so stored values read the same way.
  // biome-ignore lint/correctness/useParseIntRadix: stored values must read as the reference reads them
  const level = raw ? Number.parseInt(String(raw)) : DEFAULT_LEVEL;
  return isQuotaLevel(level) ? level : null;
}

/** True for a level of the quota table (§8.1). */
export function isQuotaLevel(level: number): boolean {
  return Number.isInteger(level) && Object.hasOwn(QUOTA_TABLE, level);
}

/** K (32 bytes) for a record: its key is read as a stored hash when 44 characters long, else as a plain key. */
export function verifyKeyMaterial(record: Pick<DeviceRecord, 'key'>): Buffer {
  return keyFromStored(record.key);
}

/** Q14: a plain key of exactly 44 characters would be misread as a hash wherever it is stored unhashed. */
export function plainKeyLengthWarning(id: string, key: string): string | null {
  if (key.length !== STORED_HASH_LENGTH) return null;
  return (
    `the key for "${id}" is exactly ${STORED_HASH_LENGTH} characters: it is stored hashed here, ` +
    'but written as plain text into a key file or -e list it would be read as a hash and could never log in (Q14)'
  );
}

/** A warning for a loaded record whose level can never log in; null when the level is usable. */
export function unusableLevelWarning(source: string, record: Pick<DeviceRecord, 'id' | 'level'>): string | null {
  if (resolveLevel(record.level) !== null) return null;
  return `${source}: "${record.id}" has level ${String(record.level)}, which is not in the quota table; its logins will fail`;
}
