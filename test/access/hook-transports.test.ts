// Issue 18, the auth hook's contract: the `transport` field names what the device came in on — `ws` (an iosignal
// WebSocket), `plain` (the plain endpoint), `cong` (CongSocket), `mqtt` (the MQTT listener) and `serial` (an
// io-serial bridge, which says so at its upgrade) — and `cert_id` carries a verified client certificate also when
// a token is what is judged. A server without TLS and one with client certificates (--tls-ca), one local hook
// server that records each request.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { createServer, type IosigServer } from '../../src/index.js';
import { IoClient } from '../../src/client/index.js';
import { ClientPool } from '../kit/raw-client.js';
import { makeDevicePki, type DevicePki } from '../kit/device-pki.js';
import { LocalHttp } from '../auth/local-http.js';
import { waitFor } from '../kit/wait.js';

type HookBody = Record<string, unknown>;

describe('the auth hook is told each transport by its own name (issue 18)', () => {
  let pki: DevicePki;
  let hook: LocalHttp;
  let server: IosigServer;
  let open: IosigServer;
  const pool = new ClientPool();
  const closers: (() => void)[] = [];
  let n = 0;

  before(async () => {
    pki = makeDevicePki(['board1']);
    hook = await LocalHttp.start();
    // Every login is allowed, as a device of its own (so sessions never meet on one CID).
    hook.handler = (_req, res) => {
      n++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ result: 'allow', device_id: `dev${n}`, cid: `C${n}`, rights: { subscribe: ['lab/{did}/#'] } }));
    };
    const common = {
      port: 0,
      congPort: 0,
      host: '127.0.0.1',
      authFailDelay: 0,
      access: { authHook: { url: `${hook.url}/auth`, timeoutMs: 2000, cacheTtlMs: 0, negativeTtlMs: 0 } },
      log: () => undefined,
    };
    server = await createServer({ ...common, tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca } });
    open = await createServer({ ...common, mqttPort: 0 });
  });
  afterEach(async () => {
    for (const close of closers.splice(0)) close();
    await pool.closeAll();
  });
  after(async () => {
    await server.close();
    await open.close();
    await hook.close();
    pki.remove();
  });

  function tls(): { ca: Buffer; cert: Buffer; key: Buffer } {
    const { cert, key } = pki.device('board1');
    return { ca: pki.read(pki.ca), cert: pki.read(cert), key: pki.read(key) };
  }

  /** The hook request that `connect` causes. */
  async function askedBy(connect: () => Promise<unknown>): Promise<HookBody> {
    const before = hook.requests.length;
    await connect();
    await waitFor(() => hook.requests.length > before, 3000, 'the hook request');
    return JSON.parse(hook.requests[before]!.body) as HookBody;
  }

  it('ws: a bearer token on the upgrade', async () => {
    const asked = await askedBy(() => pool.open('ws', open.wsPort!, { headers: { Authorization: 'Bearer opaque-ws' } }));
    assert.deepEqual([asked.transport, asked.token, asked.cert_id], ['ws', 'opaque-ws', null]);
  });

  it('ws: a token with a client certificate — the hook gets both', async () => {
    const asked = await askedBy(() => pool.open('ws', server.wsPort!, { tls: tls(), headers: { Authorization: 'Bearer opaque-both' } }));
    assert.deepEqual([asked.transport, asked.token, asked.cert_id], ['ws', 'opaque-both', 'board1']);
  });

  it('plain: ?token= on the plain endpoint', async () => {
    const asked = await askedBy(() => pool.open('ws', open.wsPort!, { path: '/plain/readings?format=json&token=opaque-plain' }));
    assert.deepEqual([asked.transport, asked.token], ['plain', 'opaque-plain']);
  });

  it('cong: a client certificate on CongSocket over TLS', async () => {
    const asked = await askedBy(() => pool.open('cong', server.congPort!, { tls: tls() }));
    assert.deepEqual([asked.transport, asked.cert_id], ['cong', 'board1']);
  });

  it('serial: an io-serial bridge (its client declares the serial device at the upgrade)', async () => {
    const asked = await askedBy(async () => {
      const client = new IoClient(`wss://127.0.0.1:${server.wsPort}`, { tls: tls(), device: 'serial', reconnect: false });
      closers.push(() => client.close());
      await client.whenReady(5000);
    });
    assert.deepEqual([asked.transport, asked.cert_id], ['serial', 'board1']);
  });

  it('mqtt: a username and password on the MQTT listener', async () => {
    const opened: MqttClient[] = [];
    const asked = await askedBy(async () => {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${open.mqttPort}`, {
        username: 'm1',
        password: 'p1',
        clientId: 'hook-mqtt',
        protocolVersion: 5,
        reconnectPeriod: 0,
        connectTimeout: 5000,
      });
      opened.push(client);
      closers.push(() => client.end(true));
    });
    assert.deepEqual([asked.transport, asked.device_id, asked.password, asked.client_id], ['mqtt', 'm1', 'p1', 'hook-mqtt']);
    // The hook's answer is the login: its device id and rights bind the MQTT session as any other.
    const mqttClient = opened[0]!;
    const granted = await mqttClient.subscribeAsync(`lab/dev${n}/temp`, { qos: 1 });
    assert.deepEqual(granted.map((g) => g.qos), [1]);
    await assert.rejects(mqttClient.subscribeAsync('lab/other/temp', { qos: 1 }), /Not authorized/);
  });
});
