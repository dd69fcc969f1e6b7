// Issue 18 item 3: what a device presents, read from where it arrives — a JWT told from iosig's `<id>.<key>`
// bearer form, `?token=` on the upgrade, both at once, the MQTT username and password — and the identity checks
// every outside source shares (device id, CID, level, refresh, expiry timers).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  classifyToken,
  credentialFromAuthorization,
  credentialFromMqtt,
  credentialFromQuery,
  looksLikeJwt,
  queryWithoutToken,
  upgradeCredential,
} from '../../src/auth/credentials.js';
import { checkCid, checkLevel, expiryDelay, MAX_TIMER_MS, recordOf, refreshRefusal, type ExternalIdentity } from '../../src/auth/external-identity.js';

const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const JWT = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub: 'dev1' })}.c2lnbmF0dXJl`;

describe('presented credentials', () => {
  it('tells a JWT from an id.key bearer and from opaque tokens', () => {
    assert.ok(looksLikeJwt(JWT));
    assert.ok(looksLikeJwt(`${part({ alg: 'none' })}.${part({})}.`), 'an unsigned token is a JWT (the verifier refuses it)');
    assert.ok(!looksLikeJwt('dev1.secret.key'), 'three parts but no JSON header');
    assert.ok(!looksLikeJwt(`${part({ typ: 'JWT' })}.${part({})}.x`), 'a header without alg');
    assert.ok(!looksLikeJwt(`${part({ alg: 'HS256' })}.${part({})}`), 'two parts');
    assert.deepEqual(classifyToken(JWT), { kind: 'jwt', token: JWT });
    assert.deepEqual(classifyToken('dev1.k3y.with.dots'), { kind: 'key', id: 'dev1', key: 'k3y.with.dots' });
    assert.deepEqual(classifyToken('opaque-token'), { kind: 'opaque', token: 'opaque-token' });
    assert.deepEqual(classifyToken('.key'), { kind: 'opaque', token: '.key' });
    assert.deepEqual(classifyToken(''), { kind: 'none' });
  });

  it('reads Authorization: Bearer and ?token=, and refuses them when they disagree or repeat', () => {
    assert.deepEqual(credentialFromAuthorization(`bearer ${JWT}`), { kind: 'jwt', token: JWT });
    assert.deepEqual(credentialFromAuthorization('Basic abc'), { kind: 'none' });
    assert.deepEqual(credentialFromAuthorization('Bearer a b'), { kind: 'none' });
    assert.deepEqual(credentialFromAuthorization(`Bearer ${'x'.repeat(9000)}`), { kind: 'none' });
    assert.deepEqual(credentialFromQuery(`format=json&token=${JWT}`), { kind: 'jwt', token: JWT });
    assert.deepEqual(credentialFromQuery('format=json'), { kind: 'none' });
    assert.equal(credentialFromQuery('token=a&token=b'), null);
    assert.equal(queryWithoutToken(`format=json&token=${JWT}`), 'format=json');
    assert.deepEqual(upgradeCredential(`Bearer ${JWT}`, `token=${JWT}`), { kind: 'jwt', token: JWT });
    assert.equal(upgradeCredential(`Bearer ${JWT}`, 'token=dev1.key'), null);
    assert.deepEqual(upgradeCredential(undefined, 'token=dev1.key'), { kind: 'key', id: 'dev1', key: 'key' });
    assert.deepEqual(upgradeCredential('Bearer dev1.key', ''), { kind: 'key', id: 'dev1', key: 'key' });
  });

  it('reads the MQTT username and password', () => {
    assert.deepEqual(credentialFromMqtt('anything', Buffer.from(JWT)), { kind: 'jwt', token: JWT });
    assert.deepEqual(credentialFromMqtt('dev1', Buffer.from('k3y')), { kind: 'key', id: 'dev1', key: 'k3y' });
    assert.deepEqual(credentialFromMqtt('dev1', undefined), { kind: 'username', id: 'dev1' });
    assert.deepEqual(credentialFromMqtt(undefined, Buffer.from('tok')), { kind: 'opaque', token: 'tok' });
    assert.deepEqual(credentialFromMqtt(undefined, undefined), { kind: 'none' });
    assert.equal(credentialFromMqtt('dev1', Buffer.alloc(9000)), null);
  });
});

describe('identities from outside', () => {
  const identity = (over: Partial<ExternalIdentity> = {}): ExternalIdentity => ({
    via: 'jwt',
    did: 'dev1',
    cid: 'D1',
    level: 2,
    grants: null,
    superuser: false,
    expiresAt: null,
    ...over,
  });

  it('checks CIDs and levels the way every outside source needs', () => {
    assert.equal(checkCid('ESP-1', 'x'), 'ESP-1');
    for (const bad of ['', '?x', 'a@b', 'a,b', 'a/b', 'a+b', 'a#b', 'a$b', 'a b', 'a\u0001']) assert.throws(() => checkCid(bad, 'x'), bad);
    assert.equal(checkLevel(undefined, 'x'), 3);
    assert.equal(checkLevel('12', 'x'), 12);
    assert.throws(() => checkLevel(2.5, 'x'), /not in the quota table/);
  });

  it('admits like a key-store record, refreshes only the same device and CID, and waits for far expiries in steps', () => {
    assert.deepEqual(recordOf(identity()), { id: 'dev1', key: '', cid: 'D1', level: 2 });
    assert.equal(refreshRefusal(identity(), identity({ expiresAt: 5 })), null);
    assert.match(refreshRefusal(identity(), identity({ did: 'dev2' }))!, /names device "dev2"/);
    assert.match(refreshRefusal(identity(), identity({ cid: 'D2' }))!, /names CID "D2"/);
    assert.equal(expiryDelay(1000, 400), 600);
    assert.equal(expiryDelay(1000, 2000), 0);
    assert.equal(expiryDelay(Date.now() + 90 * 86_400_000, Date.now()), MAX_TIMER_MS);
  });
});
