// Issue 18: a client certificate and a token presented together (wss with --tls-ca and `Authorization: Bearer`,
// MQTT over TLS with a JWT as the password). The token is the login — it names the device id, CID and level — and
// the certificate stays a subject: rules written for `cert:<id>` still apply to that session, beside those of the
// device the token names. Certificates are made with openssl at run time.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import mqtt, { type MqttClient } from 'mqtt';
import { createServer, type IosigServer } from '../../src/index.js';
import { MSG } from '../../src/protocol/codes.js';
import { decodeResponseMbp } from '../../src/protocol/rpc.js';
import { ClientPool, type RawClient } from '../kit/raw-client.js';
import { makeDevicePki, type DevicePki } from '../kit/device-pki.js';
import { iam, subReq } from '../kit/messages.js';

const SECRET = new Uint8Array(Buffer.from('a-secret-of-at-least-thirty-two-bytes-for-hs256'));
const RULES = `
allow cert:labcert     subscribe lab/cert
allow device:jwt-dev   subscribe lab/jwt
allow level:3          subscribe lab/level3
`;

function token(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(SECRET);
}

async function subscribeStatus(c: RawClient, mid: number, tag: string): Promise<number> {
  c.send(subReq(mid, tag));
  const { msg } = await c.nextOfType(MSG.RESPONSE_MBP, 2000);
  const res = decodeResponseMbp(msg);
  assert.equal(res?.mid, mid);
  return res!.status;
}

describe('a certificate and a token together: both identities are kept (issue 18)', () => {
  let pki: DevicePki;
  let server: IosigServer;
  const pool = new ClientPool();
  const mqttClients: MqttClient[] = [];

  before(async () => {
    pki = makeDevicePki(['labcert']);
    server = await createServer({
      port: 0,
      congPort: 0,
      mqttPort: 0,
      mqttWs: true,
      host: '127.0.0.1',
      authFailDelay: 0,
      tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca },
      access: { aclText: RULES, jwt: { key: { kind: 'secret', secret: SECRET } } },
      log: () => undefined,
    });
  });
  afterEach(async () => {
    for (const c of mqttClients.splice(0)) c.end(true);
    await pool.closeAll();
  });
  after(async () => {
    await server.close();
    pki.remove();
  });

  function tlsOf(): { ca: Buffer; cert: Buffer; key: Buffer } {
    const { cert, key } = pki.device('labcert');
    return { ca: pki.read(pki.ca), cert: pki.read(cert), key: pki.read(key) };
  }

  it('wss: the token names the device (id, CID, level), and cert: rules still apply to the session', async () => {
    const jwt = await token({ sub: 'jwt-dev', cid: 'JWT-1', level: 2 });
    const c = await pool.open('ws', server.wsPort!, { tls: tlsOf(), headers: { Authorization: `Bearer ${jwt}` } });
    const { msg } = await c.nextOfType(MSG.QUOTA_LEVEL, 3000);
    assert.equal(msg[1], 2, 'the level is the token\'s');
    const me = await iam(c);
    assert.deepEqual([me.did, me.cid], ['jwt-dev', 'JWT-1'], 'the device id and CID are the token\'s');
    assert.equal(await subscribeStatus(c, 1, 'lab/cert'), 0, 'cert:labcert still matches');
    assert.equal(await subscribeStatus(c, 2, 'lab/jwt'), 0, 'device:jwt-dev matches');
    assert.notEqual(await subscribeStatus(c, 3, 'lab/level3'), 0, 'the certificate gives no level: level 2 is not level 3');
  });

  it('wss: the same certificate without a token is anonymous, and only the cert: rules speak for it', async () => {
    const c = await pool.open('ws', server.wsPort!, { tls: tlsOf() });
    await c.handshake();
    assert.equal(await subscribeStatus(c, 1, 'lab/cert'), 0);
    assert.notEqual(await subscribeStatus(c, 2, 'lab/jwt'), 0);
  });

  for (const url of ['mqtts', 'wss'] as const) {
    it(`MQTT over TLS (${url}): a JWT as the password logs in, and the client certificate stays a cert: subject`, async () => {
      const jwt = await token({ sub: 'jwt-dev', cid: url === 'wss' ? 'JWT-3' : 'JWT-2' });
      const where = url === 'wss' ? `wss://127.0.0.1:${server.wsPort}/mqtt` : `mqtts://127.0.0.1:${server.mqttPort}`;
      const client = await mqtt.connectAsync(where, {
        ...tlsOf(),
        servername: 'localhost',
        rejectUnauthorized: false,
        username: 'jwt-dev',
        password: jwt,
        protocolVersion: 5,
        reconnectPeriod: 0,
        connectTimeout: 5000,
      });
      mqttClients.push(client);
      const granted = await client.subscribeAsync({ 'lab/cert': { qos: 1 }, 'lab/jwt': { qos: 1 } });
      assert.deepEqual(granted.map((g) => [g.topic, g.qos]), [['lab/cert', 1], ['lab/jwt', 1]]);
      await assert.rejects(client.subscribeAsync('lab/none', { qos: 1 }), /Not authorized/);
    });
  }
});
