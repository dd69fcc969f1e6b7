// Level rules (§4.2, Q13), key material (Q14) and entry checks shared by every key store.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keyFromString, storedKeyForm } from '../../src/crypto/keys.js';
import { checkDeviceEntry } from '../../src/auth/device-entry.js';
import { plainKeyLengthWarning, resolveLevel, verifyKeyMaterial } from '../../src/auth/key-store.js';
import { loadVector } from '../kit/vectors.js';

interface AuthKeyVectors {
  hashing: { key: string; stored_base64: string }[];
  server_key_selection: { stored: string; client_key: string; server_key32: string; login_succeeds: boolean }[];
}

const vectors = loadVector<AuthKeyVectors>('auth_keys.json');

describe('resolveLevel', () => {
  it('maps falsy stored levels to the default level 3 (Q13)', () => {
    for (const raw of [undefined, null, 0, '', Number.NaN]) assert.equal(resolveLevel(raw), 3, String(raw));
  });

  it('reads a Redis "0" as level 0, since a non-empty string is truthy', () => {
    assert.equal(resolveLevel('0'), 0);
  });

  it('parses numbers and numeric strings', () => {
    assert.equal(resolveLevel(1), 1);
    assert.equal(resolveLevel('2'), 2);
    assert.equal(resolveLevel(255), 255);
    assert.equal(resolveLevel('200'), 200);
  });

  it('returns null for levels outside the quota table (the login fails)', () => {
    assert.equal(resolveLevel(7), null);
    assert.equal(resolveLevel('7'), null);
    assert.equal(resolveLevel('abc'), null);
    assert.equal(resolveLevel(-1), null);
  });
});

describe('verifyKeyMaterial', () => {
  for (const row of vectors.server_key_selection) {
    it(`reads "${row.stored}" as in the reference (login ${row.login_succeeds ? 'works' : 'fails'})`, () => {
      const key = verifyKeyMaterial({ key: row.stored });
      assert.equal(key.toString('hex'), row.server_key32);
      assert.equal(key.equals(keyFromString(row.client_key)), row.login_succeeds);
    });
  }

  it('matches the stored form of every hashing vector', () => {
    for (const row of vectors.hashing) {
      assert.equal(storedKeyForm(row.key), row.stored_base64);
      assert.deepEqual(verifyKeyMaterial({ key: row.stored_base64 }), keyFromString(row.key));
    }
  });
});

describe('device entry checks', () => {
  it('accepts a plain entry without warnings', () => {
    assert.deepEqual(checkDeviceEntry('dev1', 'secret', 'D1', 3), { errors: [], warnings: [] });
  });

  it('refuses an empty id, key or cid, a "?" cid, a long id and a level outside the quota table', () => {
    assert.equal(checkDeviceEntry('', 'k', 'c', 3).errors.length, 1);
    assert.equal(checkDeviceEntry('id', '', 'c', 3).errors.length, 1);
    assert.match(checkDeviceEntry('id', 'k', '', 3).errors.join(), /cid is empty/);
    assert.match(checkDeviceEntry('id', 'k', '?abc', 3).errors.join(), /starts with "\?"/);
    assert.match(checkDeviceEntry('abcdefghi', 'k', 'c', 3).errors.join(), /9 bytes/);
    assert.match(checkDeviceEntry('id', 'k', 'c', 7).errors.join(), /level 7 is not in the quota table/);
  });

  it('warns about 8-byte ids, long cids and 44-character keys', () => {
    const { errors, warnings } = checkDeviceEntry('abcdefgh', 'A'.repeat(44), 'C'.repeat(11), 3);
    assert.deepEqual(errors, []);
    assert.equal(warnings.length, 3);
    assert.match(warnings.join('\n'), /at most 7/);
    assert.match(warnings.join('\n'), /Q14/);
    assert.match(warnings.join('\n'), /at most 10/);
  });

  it('has a Q14 warning only for keys of exactly 44 characters, and never shows the key', () => {
    const key = 'x'.repeat(44);
    assert.equal(plainKeyLengthWarning('id', 'x'.repeat(43)), null);
    const warning = plainKeyLengthWarning('id', key);
    assert.ok(warning);
    assert.ok(!warning.includes(key));
  });
});
