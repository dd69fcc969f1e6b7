// Issue 18 item 3: the --jwt-* and --auth-hook-* flags read into verifiers and settings, naming the flag at fault.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { openJwtVerifier, parseClaimMap, parseHookHeader } from '../../src/auth/identity-options.js';

describe('identity options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iosig-idopt-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const log = (): void => undefined;

  it('opens a verifier from --jwt-key with its claim map, level cap and leeway', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const path = join(dir, 'idp.pem');
    writeFileSync(path, publicKey.export({ type: 'spki', format: 'pem' }));
    const verifier = await openJwtVerifier({ key: path, claims: 'did=device,cid=c', maxLevel: '12', leeway: '5' }, log, {});
    assert.ok(verifier);
    assert.deepEqual(verifier.algorithms, ['ES384']);
    const token = await new SignJWT({ device: 'd1', c: 'C1', level: 12 }).setProtectedHeader({ alg: 'ES384' }).setExpirationTime('1h').sign(privateKey);
    const verdict = await verifier.verify(token);
    assert.ok(verdict.ok && verdict.identity.did === 'd1' && verdict.identity.cid === 'C1');
  });

  it('takes one key source, from a flag or IOSIG_JWT_SECRET, and refuses JWT flags without a key', async () => {
    assert.equal(await openJwtVerifier({}, log, {}), null, 'no key: JWT logins off');
    const fromEnv = await openJwtVerifier({}, log, { IOSIG_JWT_SECRET: 'x'.repeat(48) });
    assert.deepEqual(fromEnv?.algorithms, ['HS256', 'HS384']);
    writeFileSync(join(dir, 'secret'), 'y'.repeat(32));
    await assert.rejects(openJwtVerifier({ secretFile: join(dir, 'secret'), jwks: 'https://idp/jwks' }, log, {}), /one key source; given: --jwt-secret-file, --jwt-jwks/);
    await assert.rejects(openJwtVerifier({ issuer: ['x'] }, log, {}), /--jwt-issuer needs a key/);
    await assert.rejects(openJwtVerifier({ key: join(dir, 'missing.pem') }, log, {}), /--jwt-key .*missing\.pem: ENOENT/);
    await assert.rejects(openJwtVerifier({ secretFile: join(dir, 'secret'), leeway: '-1' }, log, {}), /--jwt-leeway must be a whole number from 0 to 3600/);
    await assert.rejects(openJwtVerifier({ secretFile: join(dir, 'secret'), algorithms: 'RS256' }, log, {}), /cannot verify RS256/);
    await assert.rejects(openJwtVerifier({ jwks: 'http://idp.example/jwks' }, log, {}), /http:\/\/ is accepted for this host only/);
  });

  it('reads the claim map and hook headers', () => {
    assert.deepEqual(parseClaimMap('did=device,rights=acl'), { deviceId: 'device', rights: 'acl' });
    assert.throws(() => parseClaimMap('name=x'), /expected <did\|cid\|level\|rights>=<claim name>/);
    assert.throws(() => parseClaimMap('did='), /expected/);
    assert.deepEqual(parseHookHeader('Authorization: Bearer abc'), ['authorization', 'Bearer abc']);
    assert.throws(() => parseHookHeader('no colon'), /expected "<name>: <value>"/);
    assert.throws(() => parseHookHeader('X-A: b\r\nX-B: c'), /on one line/);
  });
});
