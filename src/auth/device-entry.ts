// Rules for a device entry being added to a store (§4.1 id8, §4.2 CID, Q14, Q30, Q33), shared by every store and io-auth.
import { QUOTA_TABLE } from '../protocol/codes.js';
import { isQuotaLevel, plainKeyLengthWarning } from './key-store.js';

const MAX_ID_BYTES = 8;
/** Devices split an "id.key" string at the first dot and copy an 8-character id with the dot (Q30). */
const MAX_DEVICE_ID_BYTES = 7;
const MAX_DEVICE_CID_BYTES = 10;

export interface EntryCheck {
  errors: string[];
  warnings: string[];
}

export class InvalidDeviceEntryError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'InvalidDeviceEntryError';
  }
}

export function checkDeviceEntry(id: string, key: string, cid: string, level: number): EntryCheck {
  const errors: string[] = [];
  const warnings: string[] = [];
  const idBytes = Buffer.byteLength(id, 'utf8');
  const cidBytes = Buffer.byteLength(cid, 'utf8');

  if (id === '') errors.push('the id is empty');
  else if (id.includes('\0')) errors.push('the id contains a NUL byte, which ends an id on the wire');
  else if (idBytes > MAX_ID_BYTES) {
    errors.push(`the id "${id}" is ${idBytes} bytes; the server sees at most ${MAX_ID_BYTES} bytes of an id`);
  } else if (idBytes > MAX_DEVICE_ID_BYTES) {
    warnings.push(`the id "${id}" is ${idBytes} bytes; devices that take an "id.key" string need ids of at most ${MAX_DEVICE_ID_BYTES}`);
  }
  if (id.includes('.')) warnings.push(`the id "${id}" contains ".", so it cannot be given as an "id.key" string`);

  if (key === '') errors.push('the key is empty');
  const keyWarning = plainKeyLengthWarning(id, key);
  if (keyWarning) warnings.push(keyWarning);

  if (cid === '') errors.push('the cid is empty (a login with an empty cid is refused)');
  else if (cid.startsWith('?')) errors.push(`the cid "${cid}" starts with "?", which is reserved for anonymous connections`);
  else if (cidBytes > MAX_DEVICE_CID_BYTES) {
    warnings.push(`the cid "${cid}" is ${cidBytes} bytes; devices accept cids of at most ${MAX_DEVICE_CID_BYTES}`);
  }

  if (!isQuotaLevel(level)) errors.push(`level ${level} is not in the quota table (${Object.keys(QUOTA_TABLE).join(', ')})`);
  return { errors, warnings };
}

/** Throws InvalidDeviceEntryError on errors; passes warnings to `warn`. */
export function assertDeviceEntry(id: string, key: string, cid: string, level: number, warn: (message: string) => void): void {
  const { errors, warnings } = checkDeviceEntry(id, key, cid, level);
  if (errors.length > 0) throw new InvalidDeviceEntryError(errors);
  for (const warning of warnings) warn(warning);
}

