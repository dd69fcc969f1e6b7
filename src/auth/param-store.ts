// Key store from an "id.key.cid.level,…" list: the -e parameter, or BOHO_AUTH for -E (§4.2, Q17). Memory only.
import { storedKeyForm } from '../crypto/keys.js';
import { assertDeviceEntry } from './device-entry.js';
import { DeviceTable } from './device-table.js';
import { unusableLevelWarning, type AuthLog, type DeviceRecord, type KeyStore } from './key-store.js';

export const AUTH_ENV_VARIABLE = 'BOHO_AUTH';
const FIELDS_PER_ENTRY = 4;

export interface ParsedAuthList {
  records: DeviceRecord[];
  /** One message per rejected entry, naming it. */
  errors: string[];
}

/**
 * Splits on "," then "."; id, key and cid must be non-empty. The level goes through parseInt as in the
 * reference, so a missing level is NaN and "0" is 0 — both resolve to the default level later (Q13).
 * Keys are always hashed, as the reference does for this list. Blank entries (a trailing comma) are skipped.
 */
export function parseAuthList(text: string): ParsedAuthList {
  const records: DeviceRecord[] = [];
  const errors: string[] = [];
  text.split(',').forEach((rawEntry, index) => {
    const entry = rawEntry.trim();
    if (entry === '') return;
    const fields = entry.split('.');
    const [id = '', key = '', cid = '', level] = fields;
    const name = `entry ${index + 1} ("${id || entry}")`;
    if (fields.length > FIELDS_PER_ENTRY) {
      errors.push(`${name} has ${fields.length} "."-separated fields; the format is id.key.cid.level and keys cannot contain "." or ","`);
    } else if (id === '' || key === '' || cid === '') {
      const missing = [id === '' && 'id', key === '' && 'key', cid === '' && 'cid'].filter(Boolean).join(', ');
      errors.push(`${name} has an empty ${missing}; the format is id.key.cid.level`);
    } else {
      // biome-ignore lint/correctness/useParseIntRadix: parseInt without a radix, as key-store.ts reads stored levels
      records.push({ id, key: storedKeyForm(key), cid, level: level === undefined ? Number.NaN : Number.parseInt(level) });
    }
  });
  return { records, errors };
}

export class ParamKeyStore implements KeyStore {
  readonly #table: DeviceTable;

  private constructor(
    readonly kind: 'param' | 'env',
    records: DeviceRecord[],
    private readonly log: AuthLog,
  ) {
    this.#table = new DeviceTable(records);
  }

  /** Throws when an entry is rejected or the list holds no entry at all. */
  static fromList(text: string, kind: 'param' | 'env', log: AuthLog): ParamKeyStore {
    const source = kind === 'env' ? AUTH_ENV_VARIABLE : 'auth parameter';
    const { records, errors } = parseAuthList(text);
    if (errors.length > 0) throw new Error(`${source}: ${errors.join('; ')}`);
    if (records.length === 0) throw new Error(`${source}: no entries (the format is id.key.cid.level,…)`);
    for (const record of records) {
      const warning = unusableLevelWarning(source, record);
      if (warning) log(warning);
    }
    return new ParamKeyStore(kind, records, log);
  }

  /** -E: the list in BOHO_AUTH. */
  static fromEnv(env: NodeJS.ProcessEnv, log: AuthLog): ParamKeyStore {
    const text = env[AUTH_ENV_VARIABLE];
    if (!text) throw new Error(`${AUTH_ENV_VARIABLE} is not set (expected id.key.cid.level,…)`);
    return ParamKeyStore.fromList(text, 'env', log);
  }

  async lookup(id: string): Promise<DeviceRecord | null> {
    return this.#table.get(id);
  }

  /** Kept in memory only, like the reference. */
  async add(id: string, key: string, cid: string, level: number): Promise<void> {
    assertDeviceEntry(id, key, cid, level, this.log);
    this.#table.set({ id, key: storedKeyForm(key), cid, level });
  }

  async remove(id: string): Promise<boolean> {
    return this.#table.delete(id);
  }

  async list(): Promise<string[]> {
    return this.#table.ids();
  }

  async close(): Promise<void> {}
}
