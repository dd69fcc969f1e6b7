// MQTT over mutual TLS on iosig's -M listener with Debian's mosquitto clients (3.1.1 and 5): a client certificate
// names the device (its stored CID, as on the other transports), a certificate signed by nobody we trust never
// gets a CONNACK; and a plain WebSocket device (`/plain/`) and MQTT clients on the same channels both ways.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { IoClient, type SignalMessage } from '../../src/client/index.js';
import { startServer, type Server } from '../../src/server.js';
import { makeDevicePki, type DevicePki } from '../kit/device-pki.js';
import { CHILD_PROCESS_DEADLINE_MS, waitFor, withTimeout } from '../kit/wait.js';
import { DevicePool } from '../plain/ws-device.js';

const hasMosquitto = existsSync('/usr/bin/mosquitto_sub') && existsSync('/usr/bin/mosquitto_pub');
const need = (present: boolean, what: string): { skip?: string } => (present || process.env['CI'] === 'true' ? {} : { skip: `${what} is not installed (apt-get install ${what})` });

function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return withTimeout(exit, CHILD_PROCESS_DEADLINE_MS, `${cmd}`)
    .then((code) => ({ code, stdout, stderr }))
    .finally(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
}

describe('MQTT over mutual TLS with client certificates (mosquitto clients)', need(hasMosquitto, 'mosquitto-clients'), () => {
  let pki: DevicePki;
  let server: Server;

  before(async () => {
    pki = makeDevicePki(['dev1', 'app']);
    server = await startServer({
      congPort: 0,
      mqttPort: 0,
      host: '127.0.0.1',
      tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca },
      auth: { param: 'dev1.device-one-key.D1.3' },
      authFailDelay: 0,
      log: () => {},
    });
  });

  after(async () => {
    await server.close();
    pki.remove();
  });

  for (const version of ['mqttv311', 'mqttv5'] as const) {
    it(`a certificate names the device: mosquitto_pub ${version} publishes as D1`, async () => {
      const app = pki.device('app');
      const rx = new IoClient(`congs://127.0.0.1:${server.congPort}`, { reconnectDelayMs: 50, tls: { ca: pki.read(pki.ca), cert: pki.read(app.cert), key: pki.read(app.key) } });
      try {
        await rx.whenReady(3000);
        const got: SignalMessage[] = [];
        rx.on('message', (m) => got.push(m));
        rx.subscribe('D1@temp');
        await rx.echo('sync');
        const { cert, key } = pki.device('dev1');
        const tlsArgs = ['-h', '127.0.0.1', '-p', String(server.mqttPort), '-V', version, '--cafile', pki.ca, '--cert', cert, '--key', key];
        const pub = await run('/usr/bin/mosquitto_pub', [...tlsArgs, '-t', '$iosig/self/temp', '-m', `21-${version}`, '-q', '1']);
        assert.equal(pub.code, 0, pub.stderr);
        await waitFor(() => got.length >= 1, 3000, 'the signal from the certificate device');
        assert.equal(got[0]!.tag, 'D1@temp');
        assert.deepEqual(got[0]!.values, [`21-${version}`]);
      } finally {
        rx.close();
      }
    });
  }

  it('a certificate signed by nobody we trust never connects', async () => {
    const pub = await run('/usr/bin/mosquitto_pub', ['-h', '127.0.0.1', '-p', String(server.mqttPort), '--cafile', pki.ca, '--cert', pki.rogue.cert, '--key', pki.rogue.key, '-t', 'x', '-m', 'y']);
    assert.notEqual(pub.code, 0);
    assert.equal(server.mqtt!.sample().connectionsAccepted, 2, 'only the two good clients were admitted');
  });
});

describe('plain WebSocket devices and MQTT clients on the same channels', () => {
  let server: Server;
  const devices = new DevicePool();

  before(async () => {
    server = await startServer({ port: 0, mqttPort: 0, host: '127.0.0.1', log: () => {} });
  });

  after(async () => {
    devices.closeAll();
    await server.close();
  });

  it('a plain device gets MQTT publishes as raw frames, and its frames reach MQTT subscribers', async () => {
    const device = await devices.open(server.wsPort!, '/plain/lamp/cmd');
    const mq = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0 });
    try {
      const got: Array<[string, string]> = [];
      mq.on('message', (topic, payload) => got.push([topic, payload.toString()]));
      await mq.subscribeAsync('lamp/#');
      await waitFor(() => server.broker.router.channels.has('CH:lamp/cmd'), 3000, 'the device subscribed');
      await mq.publishAsync('lamp/cmd', 'on', { qos: 1 });
      const frame = await device.next();
      assert.equal(frame.data.toString(), 'on');
      device.sendText('state=on');
      await waitFor(() => got.some(([, p]) => p === 'state=on'), 3000, 'the device frame over MQTT');
      assert.deepEqual(
        got.find(([, p]) => p === 'state=on'),
        ['lamp/cmd', 'state=on'],
      );
    } finally {
      await mq.endAsync();
    }
  });
});
