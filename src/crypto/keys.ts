// Boho key and id forms (docs/protocol.md §4.1, §4.2): K from a key string or a stored key, id8 on the wire.
import { KEY_SIZE, sha256 } from './otp.js';

const ID8_SIZE = 8;
const STORED_HASH_LENGTH = 44;

/** K = H(UTF-8(key)). */
export function keyFromString(key: string): Buffer {
  return sha256(Buffer.from(key, 'utf8'));
}

/**
 * K from a key store entry: exactly 44 characters is base64 of K, anything else is a plain key.
 * A plain key of 44 characters is therefore misread and cannot log in (Q14, kept for compatibility).
 * A 44-character string that decodes short is zero-padded; the first 32 bytes are used.
 */
export function keyFromStored(stored: string): Buffer {
  if (stored.length !== STORED_HASH_LENGTH) return keyFromString(stored);
  const key = Buffer.alloc(KEY_SIZE);
  Buffer.from(stored, 'base64').copy(key, 0, 0, KEY_SIZE);
  return key;
}

/** What key providers store for a plain key: base64 of K (always 44 characters). */
export function storedKeyForm(plainKey: string): string {
  return keyFromString(plainKey).toString('base64');
}

/** The id as sent in AUTH_REQ: UTF-8, cut or zero-padded to 8 bytes (a cut may split a character). */
export function id8(id: string): Buffer {
  const out = Buffer.alloc(ID8_SIZE);
  Buffer.from(id, 'utf8').copy(out, 0, 0, ID8_SIZE);
  return out;
}

/** The id the server looks up: the id8 bytes up to the first 0x00 (or all 8), decoded as UTF-8. */
export function idFromId8(bytes: Uint8Array): string {
  const field = bytes.subarray(0, ID8_SIZE);
  const zero = field.indexOf(0);
  return Buffer.from(field.subarray(0, zero === -1 ? field.length : zero)).toString('utf8');
}

export interface IdKey {
  id: string;
  key: string;
}

/** Splits "id.key" at the FIRST dot (the key may hold more dots); no dot → null. */
export function splitIdKey(idKey: string): IdKey | null {
  const dot = idKey.indexOf('.');
  if (dot === -1) return null;
  return { id: idKey.slice(0, dot), key: idKey.slice(dot + 1) };
}
