// Issue 18 item 3: JWT logins. Every algorithm with a static key; what is always refused (alg none, algorithm
// confusion, bad signatures, expiry and nbf beyond the leeway, wrong iss/aud, unusable claims); keys loaded from
// PEM, certificates, JWK and JWKS files and secrets; and a JWKS endpoint on a real local server: rotation, an
// unknown kid with its cool-down, a server that is down, slow, lying or huge.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, SignJWT, type JWK } from 'jose';
import { JwtVerifier, keyFromText, secretFromFile, type JwtKey, type JwtVerdict } from '../../src/auth/jwt.js';
import { JwksSource } from '../../src/auth/jwks.js';
import { ManualClock } from '../kit/manual-clock.js';
import { LocalHttp } from './local-http.js';
import { waitFor } from '../kit/wait.js';
import { tool } from '../kit/tools.js';

const clock = new ManualClock();
const nowSec = (): number => Math.floor(clock.now() / 1000);

interface Signer {
  alg: string;
  key: KeyObject | Uint8Array;
  verifyKey: JwtKey;
}

const secret = (bytes: number): Uint8Array => new Uint8Array(Buffer.alloc(bytes, 7));
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const ec521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
const ed = generateKeyPairSync('ed25519');

const SIGNERS: Signer[] = [
  { alg: 'HS256', key: secret(32), verifyKey: { kind: 'secret', secret: secret(32) } },
  { alg: 'HS384', key: secret(48), verifyKey: { kind: 'secret', secret: secret(48) } },
  { alg: 'HS512', key: secret(64), verifyKey: { kind: 'secret', secret: secret(64) } },
  ...['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'].map((alg) => ({ alg, key: rsa.privateKey, verifyKey: { kind: 'public', key: rsa.publicKey } as JwtKey })),
  { alg: 'ES256', key: ec256.privateKey, verifyKey: { kind: 'public', key: ec256.publicKey } },
  { alg: 'ES384', key: ec384.privateKey, verifyKey: { kind: 'public', key: ec384.publicKey } },
  { alg: 'ES512', key: ec521.privateKey, verifyKey: { kind: 'public', key: ec521.publicKey } },
  { alg: 'EdDSA', key: ed.privateKey, verifyKey: { kind: 'public', key: ed.publicKey } },
];

async function sign(alg: string, key: KeyObject | Uint8Array, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg, ...header })
    .sign(key);
}

const basic = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ sub: 'dev1', cid: 'D1', level: 2, exp: nowSec() + 600, ...over });

function refused(verdict: JwtVerdict, code: string, reason?: RegExp): void {
  assert.equal(verdict.ok, false, 'the token was accepted');
  if (verdict.ok) return;
  assert.equal(verdict.code, code, verdict.reason);
  if (reason) assert.match(verdict.reason, reason);
}

describe('JWT logins with a static key', () => {
  it('verifies every algorithm and gives the identity the login flow admits', async () => {
    for (const signer of SIGNERS) {
      const verifier = new JwtVerifier({ key: signer.verifyKey, clock });
      const verdict = await verifier.verify(await sign(signer.alg, signer.key, basic({ rights: { publish: ['dev/{did}/#'] } })));
      assert.ok(verdict.ok, `${signer.alg}: ${verdict.ok ? '' : verdict.reason}`);
      assert.equal(verdict.identity.did, 'dev1');
      assert.equal(verdict.identity.cid, 'D1');
      assert.equal(verdict.identity.level, 2);
      assert.equal(verdict.identity.expiresAt, (nowSec() + 600) * 1000);
      assert.equal(verdict.identity.grants?.rules.length, 1);
      assert.equal(verdict.identity.via, 'jwt');
    }
  });

  it('refuses unsigned tokens and algorithm confusion', async () => {
    const hs = new JwtVerifier({ key: { kind: 'secret', secret: secret(32) }, clock });
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(basic())).toString('base64url')}.`;
    refused(await hs.verify(unsigned), 'algorithm', /alg none/);
    const rs = new JwtVerifier({ key: { kind: 'public', key: rsa.publicKey }, clock });
    refused(await rs.verify(unsigned), 'algorithm', /alg none/);
    // The classic confusion: an HS256 token whose secret is the server's RSA public key.
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' });
    const forged = await sign('HS256', new Uint8Array(Buffer.from(pem)), basic());
    refused(await rs.verify(forged), 'algorithm', /alg HS256 is not accepted/);
    // An EC key verifies its own curve only.
    const es = new JwtVerifier({ key: { kind: 'public', key: ec256.publicKey }, clock });
    refused(await es.verify(await sign('ES384', ec384.privateKey, basic())), 'algorithm');
    assert.throws(() => new JwtVerifier({ key: { kind: 'public', key: rsa.publicKey }, algorithms: ['HS256'] }), /cannot verify HS256/);
    assert.throws(() => new JwtVerifier({ key: { kind: 'secret', secret: secret(16) } }), /16 bytes; HS256 needs at least 32/);
    const only256 = new JwtVerifier({ key: { kind: 'secret', secret: secret(64) }, algorithms: ['HS256'], clock });
    refused(await only256.verify(await sign('HS512', secret(64), basic())), 'algorithm');
  });

  it('refuses bad signatures, expired and early tokens beyond the leeway, and a missing exp', async () => {
    const verifier = new JwtVerifier({ key: { kind: 'public', key: ec256.publicKey }, clock, leewaySec: 30 });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    refused(await verifier.verify(await sign('ES256', other.privateKey, basic())), 'signature');
    const good = await sign('ES256', ec256.privateKey, basic());
    const tampered = good.split('.');
    tampered[1] = Buffer.from(JSON.stringify(basic({ level: 255 }))).toString('base64url');
    refused(await verifier.verify(tampered.join('.')), 'signature');
    refused(await verifier.verify(await sign('ES256', ec256.privateKey, basic({ exp: nowSec() - 31 }))), 'expired');
    assert.ok((await verifier.verify(await sign('ES256', ec256.privateKey, basic({ exp: nowSec() - 29 })))).ok, 'within the leeway');
    refused(await verifier.verify(await sign('ES256', ec256.privateKey, basic({ nbf: nowSec() + 31 }))), 'not_yet_valid');
    assert.ok((await verifier.verify(await sign('ES256', ec256.privateKey, basic({ nbf: nowSec() + 29 })))).ok);
    refused(await verifier.verify(await sign('ES256', ec256.privateKey, basic({ exp: undefined }))), 'claims', /exp/);
    const noExp = new JwtVerifier({ key: { kind: 'public', key: ec256.publicKey }, clock, requireExp: false });
    const verdict = await noExp.verify(await sign('ES256', ec256.privateKey, basic({ exp: undefined })));
    assert.ok(verdict.ok);
    assert.equal(verdict.identity.expiresAt, null);
    refused(await verifier.verify('a.b'), 'malformed');
    refused(await verifier.verify('x'.repeat(9000)), 'malformed', /over 8192 bytes/);
  });

  it('checks iss and aud when configured', async () => {
    const verifier = new JwtVerifier({ key: { kind: 'secret', secret: secret(32) }, issuer: ['https://idp.example'], audience: ['iosig'], clock });
    const token = (claims: Record<string, unknown>): Promise<string> => sign('HS256', secret(32), basic(claims));
    assert.ok((await verifier.verify(await token({ iss: 'https://idp.example', aud: ['other', 'iosig'] }))).ok);
    refused(await verifier.verify(await token({ iss: 'https://evil.example', aud: 'iosig' })), 'claims', /iss/);
    refused(await verifier.verify(await token({ iss: 'https://idp.example', aud: 'other' })), 'claims', /aud/);
    refused(await verifier.verify(await token({ aud: 'iosig' })), 'claims', /iss/);
  });

  it('turns claims into an identity, or refuses the token with the claim at fault', async () => {
    const key = secret(32);
    const verifier = new JwtVerifier({ key: { kind: 'secret', secret: key }, clock, maxLevel: 200, claims: { deviceId: 'device', cid: 'cid' } });
    const verify = async (claims: Record<string, unknown>): Promise<JwtVerdict> => verifier.verify(await sign('HS256', key, { exp: nowSec() + 60, ...claims }));
    const noCid = await verify({ device: 'board7' });
    assert.ok(noCid.ok);
    assert.equal(noCid.identity.cid, 'board7', 'without a CID claim the device id is the CID');
    assert.equal(noCid.identity.level, 3, 'without a level claim, the default level');
    assert.equal(noCid.identity.grants, null);
    assert.equal((await verify({ device: 'b', level: '12' })).ok, true, 'a level may be its decimal text');
    refused(await verify({ sub: 'dev1' }), 'identity', /claim "device": the device id must be a non-empty string/);
    refused(await verify({ device: 'b', cid: 'D1@x' }), 'identity', /holds one of @/);
    refused(await verify({ device: 'b', cid: '?anon' }), 'identity', /anonymous/);
    refused(await verify({ device: 'b', cid: 'x'.repeat(65) }), 'identity', /over 64 bytes/);
    refused(await verify({ device: 'b', level: 7 }), 'identity', /not in the quota table/);
    refused(await verify({ device: 'b', level: 255 }), 'identity', /above the most this source may give \(200\)/);
    refused(await verify({ device: 'b', rights: { publish: ['a/#/b'] } }), 'identity', /claim "rights": "#" must be the last level/);
    refused(await verify({ device: 'a/b c' }), 'identity', /holds one of/);
  });
});

describe('JWT keys from files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iosig-jwt-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads PEM public keys, certificates, JWKs and key sets, and refuses private and symmetric ones', async () => {
    const pem = ec256.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.equal(keyFromText(pem, 'k').kind, 'public');
    assert.throws(() => keyFromText(ec256.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'k.pem'), /k\.pem: a private key/);
    // A certificate, as openssl makes it.
    execFileSync(tool('openssl'), ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=idp',
      '-keyout', join(dir, 'idp.key'), '-out', join(dir, 'idp.pem')], { stdio: 'ignore' });
    const certKey = keyFromText(readFileSync(join(dir, 'idp.pem'), 'utf8'), 'idp.pem');
    assert.equal(certKey.kind, 'public');
    const jwk = await exportJWK(ed.publicKey);
    const fromJwk = keyFromText(JSON.stringify(jwk), 'jwk');
    const verifier = new JwtVerifier({ key: fromJwk, clock });
    assert.deepEqual(verifier.algorithms, ['EdDSA', 'Ed25519']);
    assert.ok((await verifier.verify(await sign('EdDSA', ed.privateKey, basic()))).ok);
    const set = { keys: [{ ...(await exportJWK(ec256.publicKey)), kid: 'a', alg: 'ES256' }] };
    const fromSet = new JwtVerifier({ key: keyFromText(JSON.stringify(set), 'set'), clock });
    assert.ok((await fromSet.verify(await sign('ES256', ec256.privateKey, basic(), { kid: 'a' }))).ok);
    assert.throws(() => keyFromText(JSON.stringify({ kty: 'oct', k: 'AAAA' }), 'j'), /symmetric JWK/);
    assert.throws(() => keyFromText(JSON.stringify({ keys: [{ kty: 'oct', k: 'AAAA' }] }), 'j'), /symmetric key in a key set/);
    const privateJwk = JSON.stringify(await exportJWK(ec256.privateKey));
    assert.throws(() => keyFromText(privateJwk, 'j'), /private JWK/);
    assert.throws(() => keyFromText('{oops', 'j'), /not valid JSON/);
    assert.throws(() => keyFromText('hello', 'j'), /not a PEM public key or certificate/);
  });

  it('reads a secret from a file without its line end', async () => {
    writeFileSync(join(dir, 'secret'), `${'s'.repeat(40)}\n`);
    const key = await secretFromFile(join(dir, 'secret'));
    assert.ok(key.kind === 'secret' && key.secret.byteLength === 40);
    const verifier = new JwtVerifier({ key, clock });
    assert.deepEqual(verifier.algorithms, ['HS256']);
    assert.ok((await verifier.verify(await sign('HS256', new Uint8Array(Buffer.from('s'.repeat(40))), basic()))).ok);
  });
});

describe('JWT logins with a JWKS endpoint', { timeout: 20_000 }, () => {
  let http: LocalHttp;
  const logs: string[] = [];
  const keyA = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyB = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let jwkA: JWK;
  let jwkB: JWK;

  before(async () => {
    http = await LocalHttp.start();
    jwkA = { ...(await exportJWK(keyA.publicKey)), kid: 'a', alg: 'ES256', use: 'sig' };
    jwkB = { ...(await exportJWK(keyB.publicKey)), kid: 'b', alg: 'RS256' };
  });
  after(() => http.close());

  function source(over: Partial<ConstructorParameters<typeof JwksSource>[0]> = {}): { jwks: JwksSource; verifier: JwtVerifier } {
    const jwks = new JwksSource({ url: `${http.url}/jwks.json`, timeoutMs: 3000, maxAgeMs: 60_000, cooldownMs: 30_000, maxBytes: 64 * 1024, maxKeys: 10, log: (l) => logs.push(l), clock, ...over });
    return { jwks, verifier: new JwtVerifier({ key: { kind: 'jwks-url', source: jwks }, clock }) };
  }

  it('fetches the set on first use, and follows a rotation through an unknown kid', async () => {
    http.json(200, { keys: [jwkA, { kty: 'oct', k: 'c2VjcmV0', kid: 'hs' }] });
    const { jwks, verifier } = source();
    const a = await verifier.verify(await sign('ES256', keyA.privateKey, basic(), { kid: 'a' }));
    assert.ok(a.ok, a.ok ? '' : a.reason);
    assert.equal(jwks.keyCount, 1, 'the symmetric key is dropped');
    assert.match(logs.at(-1)!, /1 keys not used/);
    // An HS256 token naming the dropped oct key gets nowhere.
    refused(await verifier.verify(await sign('HS256', new Uint8Array(Buffer.from('secret')), basic(), { kid: 'hs' })), 'algorithm');
    http.json(200, { keys: [jwkA, jwkB] });
    const fetched = jwks.fetches;
    const b = await verifier.verify(await sign('RS256', keyB.privateKey, basic(), { kid: 'b' }));
    assert.ok(b.ok, b.ok ? '' : b.reason);
    assert.equal(jwks.fetches, fetched + 1, 'one fetch for the new kid');
  });

  it('fetches for unknown kids at most once per cool-down', async () => {
    http.json(200, { keys: [jwkA] });
    const { jwks, verifier } = source();
    await jwks.refresh();
    const fetched = jwks.fetches;
    for (let i = 0; i < 20; i++) refused(await verifier.verify(await sign('ES256', keyA.privateKey, basic(), { kid: `made-up-${i}` })), 'unknown_key');
    assert.equal(jwks.fetches, fetched + 1, 'twenty made-up kids, one fetch');
    clock.advance(30_000);
    refused(await verifier.verify(await sign('ES256', keyA.privateKey, basic(), { kid: 'again' })), 'unknown_key', /fetched again just now/);
    assert.equal(jwks.fetches, fetched + 2);
  });

  it('refetches a stale set in the background and keeps the last good set while the endpoint is down or lying', async () => {
    http.json(200, { keys: [jwkA] });
    const { jwks, verifier } = source({ maxAgeMs: 1000 });
    await jwks.refresh();
    const token = await sign('ES256', keyA.privateKey, basic({ exp: nowSec() + 3600 }), { kid: 'a' });
    for (const answer of [
      () => http.json(500, { error: 'down' }),
      () => {
        http.handler = (_req, res) => res.end('<html>not json');
      },
      () => http.json(200, { keys: [{ kty: 'oct', k: 'AAAA' }] }),
      () => http.json(200, { nokeys: true }),
      () => {
        http.handler = (_req, res) => res.end(JSON.stringify({ keys: [jwkA], pad: 'x'.repeat(70 * 1024) }));
      },
      () => {
        http.handler = (_req, res) => res.socket?.destroy(); // the connection is cut
      },
    ]) {
      answer();
      clock.advance(1001);
      const before = jwks.fetches;
      const verdict = await verifier.verify(token);
      assert.ok(verdict.ok, 'the last good set still verifies');
      await waitFor(() => jwks.fetches === before + 1, 2000, 'the background refetch');
      await jwks.refresh(); // let the failing fetch finish before the next answer
    }
    assert.ok(logs.some((l) => /fetch failed \(HTTP 500\); keeping the last good set \(1 keys\)/.test(l)));
    assert.equal(logs.filter((l) => /fetch failed/.test(l)).length >= 1, true);
    http.json(200, { keys: [jwkA, jwkB] });
    assert.ok(await jwks.refresh());
    assert.match(logs.at(-1)!, /fetched again \(2 keys\)/);
  });

  it('gives up a fetch at its time limit', async () => {
    http.handler = () => undefined; // never answers
    const { jwks, verifier } = source({ timeoutMs: 300 });
    const t0 = Date.now();
    refused(await verifier.verify(await sign('ES256', keyA.privateKey, basic(), { kid: 'a' })), 'keys_unavailable');
    assert.ok(Date.now() - t0 < 2500);
    assert.ok(logs.some((l) => /fetch failed \(no complete answer within 300 ms\)/.test(l)));
    assert.equal(jwks.keyCount, 0);
  });

  it('refuses logins while no set was ever read, and recovers when the endpoint answers', async () => {
    http.json(503, {});
    const { jwks, verifier } = source();
    const token = await sign('ES256', keyA.privateKey, basic(), { kid: 'a' });
    refused(await verifier.verify(token), 'keys_unavailable', /no key set/);
    http.json(200, { keys: [jwkA] });
    assert.ok((await verifier.verify(token)).ok);
    assert.ok(jwks.keyCount === 1);
  });

  it('needs https, or http to this host only', () => {
    assert.throws(() => new JwksSource({ url: 'http://idp.example/jwks', timeoutMs: 1, maxAgeMs: 1, cooldownMs: 1, maxBytes: 1, maxKeys: 1, log: () => undefined }), /http:\/\/ is accepted for this host only/);
    assert.ok(new JwksSource({ url: 'https://idp.example/jwks', timeoutMs: 1, maxAgeMs: 1, cooldownMs: 1, maxBytes: 1, maxKeys: 1, log: () => undefined }));
  });
});
