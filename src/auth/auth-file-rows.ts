// Reading and writing the rows of an auth file: [id, key, cid, level?] (§4.2). Pure; file access lives in file-store.ts.
import { storedKeyForm } from '../crypto/keys.js';
import { STORED_HASH_LENGTH, unusableLevelWarning, type DeviceRecord } from './key-store.js';

const MAX_ID_BYTES = 8;

export interface LoadedRows {
  records: DeviceRecord[];
  warnings: string[];
}

/**
 * Checks the rows and hashes their keys: a key of exactly 44 characters is taken as already hashed (the form
 * io-auth writes), any other key is hashed now. Throws on the first malformed row, naming it.
 */
export function recordsFromRows(rows: unknown, source: string): LoadedRows {
  if (!Array.isArray(rows)) throw new Error(`${source}: expected an array of [id, key, cid, level] rows`);
  const records: DeviceRecord[] = [];
  const warnings: string[] = [];
  const seen = new Set<string>();
  rows.forEach((row: unknown, index) => {
    const where = `${source}: row ${index + 1}`;
    if (!Array.isArray(row)) throw new Error(`${where} is not an array`);
    const [id, key, cid, level] = row as unknown[];
    if (typeof id !== 'string' || id === '') throw new Error(`${where}: the id must be a non-empty string`);
    if (typeof key !== 'string' || key === '') throw new Error(`${where} ("${id}"): the key must be a non-empty string`);
    if (typeof cid !== 'string') throw new Error(`${where} ("${id}"): the cid must be a string`);
    if (level !== undefined && level !== null && typeof level !== 'number' && typeof level !== 'string') {
      throw new Error(`${where} ("${id}"): the level must be a number`);
    }
    if (seen.has(id)) warnings.push(`${where}: "${id}" appears again; this later row wins`);
    if (Buffer.byteLength(id, 'utf8') > MAX_ID_BYTES) {
      warnings.push(`${where}: the id "${id}" is longer than ${MAX_ID_BYTES} bytes and can never match a login`);
    }
    if (cid === '') warnings.push(`${where}: "${id}" has an empty cid; its logins will be refused`);
    const record: DeviceRecord = { id, key: key.length === STORED_HASH_LENGTH ? key : storedKeyForm(key), cid, level };
    const levelWarning = unusableLevelWarning(where, record);
    if (levelWarning) warnings.push(levelWarning);
    seen.add(id);
    records.push(record);
  });
  return { records, warnings };
}

/** The .json text for records: one row per line; the level is left out when it was never stored. */
export function rowsToJson(records: DeviceRecord[]): string {
  if (records.length === 0) return '[]\n';
  const lines = records.map(({ id, key, cid, level }) => '  ' + JSON.stringify(level === undefined ? [id, key, cid] : [id, key, cid, level]));
  return `[\n${lines.join(',\n')}\n]\n`;
}
