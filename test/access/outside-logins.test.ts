// Issue 18 item 3, wired: JWT logins (keys made here; a JWKS served by a local HTTP server) and the auth hook
// (a local HTTP service: fast, slow, dead, lying) as login sources of a real server, over real sockets — the
// `Authorization: Bearer` header and `?token=` on an iosignal WebSocket and on the plain endpoint. A token's
// rights claim and a hook's rights bind the session; a session ends at its token's expiry unless `token refresh`
// moved it.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { exportJWK, SignJWT, type JWK } from 'jose';
import mqtt from 'mqtt';
import type { IosigServer } from '../../src/index.js';
import { MSG } from '../../src/protocol/codes.js';
import { decodeResponseMbp, encodeCall } from '../../src/protocol/rpc.js';
import { JwksSource, JWKS_DEFAULTS } from '../../src/auth/jwks.js';
import { ClientPool, type RawClient } from '../kit/raw-client.js';
import { startServer } from '../kit/server.js';
import { assertQuiet, iam, sub, subReq, text } from '../kit/messages.js';
import { WsDevice } from '../plain/ws-device.js';
import { ManualClock } from '../kit/manual-clock.js';
import { LocalHttp } from '../auth/local-http.js';
import { waitFor } from '../kit/wait.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const rotated = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const SECRET = new Uint8Array(Buffer.from('a-secret-of-at-least-thirty-two-bytes-for-hs256'));

async function sign(alg: string, key: KeyObject | Uint8Array, claims: Record<string, unknown>, kid?: string, expSeconds = Math.floor(Date.now() / 1000) + 600): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).setExpirationTime(expSeconds).sign(key);
}

/** The WebSocket upgrade with `Authorization: Bearer <token>`: logged in once QUOTA_LEVEL comes (its level). */
async function loggedIn(pool: ClientPool, server: IosigServer, token: string): Promise<RawClient & { level: number }> {
  const c = await pool.open('ws', server.wsPort!, { headers: { Authorization: `Bearer ${token}` } });
  const { msg } = await c.nextOfType(MSG.QUOTA_LEVEL, 3000);
  return Object.assign(c, { level: msg[1]! });
}

/** The same upgrade, refused: closed before QUOTA_LEVEL (the plain endpoint would say "login refused"). */
async function refusedLogin(_pool: ClientPool, server: IosigServer, token: string): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${server.wsPort}/`, { headers: { Authorization: `Bearer ${token}` } });
  ws.on('error', () => undefined);
  const types: number[] = [];
  ws.on('message', (data: Buffer) => types.push(data[0]!));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the refused login was not closed within 3 s')), 3000);
    ws.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  assert.ok(!types.includes(MSG.QUOTA_LEVEL), 'no login was admitted');
}

describe('JWT logins over real sockets (issue 18 item 3)', () => {
  let jwksHttp: LocalHttp;
  let server: IosigServer;
  let hsServer: IosigServer;
  const lines: string[] = [];
  const pool = new ClientPool();
  let keys: JWK[];

  before(async () => {
    jwksHttp = await LocalHttp.start();
    keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'r1', alg: 'RS256' },
      { ...(await exportJWK(ec.publicKey)), kid: 'e1', alg: 'ES256' },
      { ...(await exportJWK(ed.publicKey)), kid: 'd1', alg: 'EdDSA' },
    ];
    jwksHttp.json(200, { keys });
    const source = new JwksSource({ url: `${jwksHttp.url}/jwks.json`, ...JWKS_DEFAULTS, cooldownMs: 0, log: (l) => lines.push(l) });
    server = await startServer({ authFailDelay: 0, access: { jwt: { key: { kind: 'jwks-url', source } } } }, lines);
    hsServer = await startServer({ authFailDelay: 0, access: { jwt: { key: { kind: 'secret', secret: SECRET } } } }, lines);
  });
  afterEach(() => pool.closeAll());
  after(async () => {
    await server.close();
    await hsServer.close();
    await jwksHttp.close();
  });

  for (const [alg, key, kid] of [
    ['RS256', rsa.privateKey, 'r1'],
    ['ES256', ec.privateKey, 'e1'],
    ['EdDSA', ed.privateKey, 'd1'],
  ] as const) {
    it(`${alg} (from the JWKS): the claims give the device id, CID and level`, async () => {
      const c = await loggedIn(pool, server, await sign(alg, key, { sub: `dev-${kid}`, cid: `C-${kid}`, level: 2 }, kid));
      assert.equal(c.level, 2);
      const me = await iam(c);
      assert.equal(me.did, `dev-${kid}`);
      assert.equal(me.cid, `C-${kid}`);
    });
  }

  it('HS256 with a secret; the CID defaults to the device id and the level to 3', async () => {
    const c = await loggedIn(pool, hsServer, await sign('HS256', SECRET, { sub: 'hs-dev' }));
    assert.equal(c.level, 3);
    assert.equal((await iam(c)).cid, 'hs-dev');
  });

  it('the plain endpoint takes ?token= : a device logged in by its token', async () => {
    const token = await sign('ES256', ec.privateKey, { sub: 'plain-dev', cid: 'PLAIN-1' }, 'e1');
    const device = await WsDevice.open(server.wsPort!, `/plain/readings?format=json&token=${token}`);
    try {
      assert.deepEqual(await device.nextJson(), { type: 'READY', cid: 'PLAIN-1' });
    } finally {
      device.close();
    }
  });

  it('the plain endpoint refuses a bad token with the close reason "login refused"', async () => {
    const token = await sign('ES256', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, { sub: 'plain-dev' }, 'e1');
    const device = await WsDevice.open(server.wsPort!, `/plain/readings?format=json&token=${token}`);
    await waitFor(() => device.closed !== null, 3000, 'the refused device to be closed');
    assert.equal(device.closed?.reason, 'login refused');
  });

  it('refused: a bad signature, alg none, an expired token, an algorithm the key is not for', async () => {
    const wrongKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await refusedLogin(pool, server, await sign('ES256', wrongKey.privateKey, { sub: 'x' }, 'e1'));
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"x","exp":9999999999}').toString('base64url')}.`;
    await refusedLogin(pool, server, unsigned);
    await refusedLogin(pool, server, await sign('ES256', ec.privateKey, { sub: 'x' }, 'e1', Math.floor(Date.now() / 1000) - 3600));
    await refusedLogin(pool, hsServer, await sign('HS512', new Uint8Array(64), { sub: 'x' }));
    assert.ok(server.metrics().authFailByReason.jwt >= 3);
    assert.ok(lines.some((l) => /JWT: .*signature/.test(l)));
  });

  it('JWKS rotation: a token with a new kid logs in once the published set has its key', async () => {
    const token = await sign('ES256', rotated.privateKey, { sub: 'rotated' }, 'e2');
    await refusedLogin(pool, server, token);
    jwksHttp.json(200, { keys: [...keys, { ...(await exportJWK(rotated.publicKey)), kid: 'e2', alg: 'ES256' }] });
    const c = await loggedIn(pool, server, token);
    assert.equal((await iam(c)).did, 'rotated');
  });

  it('a rights claim binds the session: it publishes and reads only where its token says', async () => {
    const rights = { publish: ['dev/{did}/#'], subscribe: ['dev/{did}/#', 'news'] };
    const c = await loggedIn(pool, server, await sign('ES256', ec.privateKey, { sub: 'r9', rights }, 'e1'));
    const watcher = await pool.ready('cong', server.congPort!);
    watcher.send(sub('dev/r9/t,elsewhere'));
    await watcher.sync();
    c.send(text('elsewhere', 'denied'));
    c.send(text('dev/r9/t', 'mine'));
    assert.equal((await watcher.nextOfType(MSG.SIGNAL, 2000)).msg.includes(Buffer.from('mine')), true);
    await assertQuiet(watcher);
    c.send(subReq(1, 'elsewhere'));
    assert.equal(decodeResponseMbp((await c.nextOfType(MSG.RESPONSE_MBP, 2000)).msg)!.status, 255);
  });
});

describe('the end of a token session (issue 18 item 3)', () => {
  const clock = new ManualClock(Date.now());
  let server: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    server = await startServer({ clock, authFailDelay: 0, mqttPort: 0, access: { jwt: { key: { kind: 'secret', secret: SECRET }, clock } } });
  });
  after(async () => {
    await pool.closeAll();
    await server.close();
  });

  const at = (offsetSeconds: number): number => Math.floor(clock.now() / 1000) + offsetSeconds;

  it('ends at exp with AUTH_CLEAR "token expired", unless a fresh token moved the end', async () => {
    const c = await loggedIn(pool, server, await sign('HS256', SECRET, { sub: 'short', cid: 'SHORT' }, undefined, at(60)));
    // A fresh token for another device is refused; one for the same device moves the end.
    c.send(encodeCall(1, 'token', 'refresh', await sign('HS256', SECRET, { sub: 'other', cid: 'SHORT' }, undefined, at(600))));
    assert.equal(decodeResponseMbp((await c.nextOfType(MSG.RESPONSE_MBP, 2000)).msg)!.status, 255);
    c.send(encodeCall(2, 'token', 'refresh', await sign('HS256', SECRET, { sub: 'short', cid: 'SHORT' }, undefined, at(120))));
    assert.equal(decodeResponseMbp((await c.nextOfType(MSG.RESPONSE_MBP, 2000)).msg)!.status, 0);
    clock.advance(61_000);
    await assertQuiet(c);
    clock.advance(60_000);
    const { msg } = await c.nextOfType(MSG.AUTH_CLEAR, 2000);
    assert.equal(msg.subarray(1).toString('utf8').replace(/\0$/, ''), 'token expired');
    await c.waitClosed(2000);
    assert.equal(server.metrics().sessionsExpired, 1);
  });

  it('MQTT: a JWT as the password logs in, and the connection ends at exp with DISCONNECT 0xA0', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
      username: 'label only',
      password: await sign('HS256', SECRET, { sub: 'mqtt-short', cid: 'MQTT-SHORT' }, undefined, at(60)),
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    try {
      const expiredBefore = server.metrics().sessionsExpired;
      const ended = new Promise<number | undefined>((resolve) => client.once('disconnect', (packet) => resolve(packet.reasonCode)));
      clock.advance(59_000);
      await client.publishAsync('still/here', 'x', { qos: 1 }).catch(() => undefined);
      assert.equal(client.connected, true, 'before exp the connection stays');
      clock.advance(2_000);
      assert.equal(await ended, 0xa0, 'DISCONNECT maximum connect time');
      await waitFor(() => server.metrics().sessionsExpired === expiredBefore + 1, 2000, 'the expiry counted');
    } finally {
      client.end(true);
    }
  });
});

describe('the auth hook as a login source, over real sockets (issue 18 item 3)', () => {
  let hook: LocalHttp;
  let deadHook: LocalHttp;
  let server: IosigServer;
  let dead: IosigServer;
  const lines: string[] = [];
  const pool = new ClientPool();
  const KEY = 'k'.repeat(43);

  before(async () => {
    hook = await LocalHttp.start();
    deadHook = await LocalHttp.start();
    const deadUrl = deadHook.url;
    await deadHook.close();
    const bounds = { timeoutMs: 1000, cacheTtlMs: 0, negativeTtlMs: 0 };
    server = await startServer({ authFailDelay: 0, auth: { param: `keyed.${KEY}.KEYED.2` }, access: { authHook: { url: `${hook.url}/auth`, ...bounds } } }, lines);
    dead = await startServer({ authFailDelay: 0, access: { authHook: { url: `${deadUrl}/auth`, ...bounds } } }, lines);
  });
  afterEach(() => pool.closeAll());
  after(async () => {
    await server.close();
    await dead.close();
    await hook.close();
  });

  it('allow: admitted as the device the hook names, with its rights', async () => {
    hook.json(200, { result: 'allow', device_id: 'esp1', cid: 'ESP-1', level: 2, rights: { publish: ['lab/esp1'] } });
    const c = await loggedIn(pool, server, `esp1.${KEY}`);
    assert.equal(c.level, 2);
    assert.equal((await iam(c)).cid, 'ESP-1');
    const request = JSON.parse(hook.requests.at(-1)!.body) as Record<string, unknown>;
    assert.equal(request.device_id, 'esp1');
    assert.equal(request.transport, 'ws');
    const watcher = await pool.ready('cong', server.congPort!);
    watcher.send(sub('lab/esp1,lab/other'));
    await watcher.sync();
    c.send(text('lab/other', 'denied'));
    c.send(text('lab/esp1', 'allowed'));
    assert.ok((await watcher.nextOfType(MSG.SIGNAL, 2000)).msg.includes(Buffer.from('allowed')));
    await assertQuiet(watcher);
  });

  it('deny: the login is refused ("login refused")', async () => {
    hook.json(200, { result: 'deny', reason: 'not on the list' });
    await refusedLogin(pool, server, `esp2.${KEY}`);
    assert.ok(lines.some((l) => l.includes('not on the list')));
  });

  it('ignore: the key store decides (its key logs in, a wrong key is refused)', async () => {
    hook.handler = (_req, res) => {
      res.writeHead(204);
      res.end();
    };
    const c = await loggedIn(pool, server, `keyed.${KEY}`);
    assert.equal(c.level, 2);
    assert.equal((await iam(c)).cid, 'KEYED');
    await refusedLogin(pool, server, `keyed.${'x'.repeat(43)}`);
  });

  it('slow: no answer within the time limit is a failure, and a failure refuses (fail closed)', async () => {
    hook.handler = () => undefined;
    const started = Date.now();
    await refusedLogin(pool, server, `slow.${KEY}`);
    assert.ok(Date.now() - started < 4000, 'refused at the time limit, not later');
  });

  it('lying: an answer outside the contract is a failure, never an admission', async () => {
    hook.json(200, { result: 'allow', level: 'admin' });
    await refusedLogin(pool, server, `liar.${KEY}`);
    hook.json(200, { result: 'maybe' });
    await refusedLogin(pool, server, `liar2.${KEY}`);
  });

  it('down: a hook that cannot be reached refuses the login', async () => {
    await refusedLogin(pool, dead, `any.${KEY}`);
    await waitFor(() => lines.some((l) => l.startsWith('auth hook')), 2000, 'the failure in the log');
  });
});
