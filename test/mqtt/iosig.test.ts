// MQTT on iosig's own broker (issue 19): MQTT clients and iosignal clients on one channel space over real sockets —
// the `-M` listener, MQTT over WebSocket on the `-l` port, publish/subscribe both ways with wildcards, unicast to
// an MQTT device's CID and from it, retained values set on one side and read on the other, logins against the key
// store, $SYS topics and the metrics.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { IoClient, type SignalMessage } from '../../src/client/index.js';
import type { Server } from '../../src/server.js';
import { startServer as startInternal } from '../../src/server.js';
import { waitFor } from '../kit/wait.js';

const FAST = { reconnectDelayMs: 50, reconnectMaxDelayMs: 200, callTimeoutMs: 2000 };
const DEV1_KEY = 'device-one-key';
/** `id.key.cid.level` (the `-e` format). */
const DEVICES = `dev1.${DEV1_KEY}.D1.3,dev2.device-two-key.D2.3`;

type Got = Array<[string, string]>;

describe('MQTT on iosig: one channel space with iosignal clients', () => {
  let server: Server;
  const logs: string[] = [];
  const mqttClients: MqttClient[] = [];
  const ioClients: IoClient[] = [];

  before(async () => {
    server = await startInternal({ port: 0, congPort: 0, mqttPort: 0, mqttWs: true, host: '127.0.0.1', auth: { param: DEVICES }, authFailDelay: 0, log: (line) => logs.push(line) });
  });

  after(async () => {
    for (const c of mqttClients.splice(0)) c.end(true);
    for (const c of ioClients.splice(0)) c.close();
    await server.close();
  });

  async function mq(protocolVersion: 4 | 5, extra: mqtt.IClientOptions = {}, url = `mqtt://127.0.0.1:${server.mqttPort}`): Promise<MqttClient> {
    const client = await mqtt.connectAsync(url, { protocolVersion, reconnectPeriod: 0, connectTimeout: 5000, ...extra });
    mqttClients.push(client);
    return client;
  }

  async function io(transport: 'ws' | 'cong' = 'ws'): Promise<IoClient> {
    const port = transport === 'ws' ? server.wsPort : server.congPort;
    const client = new IoClient(`${transport}://127.0.0.1:${port}`, FAST);
    ioClients.push(client);
    await client.whenReady(3000);
    return client;
  }

  const collect = (client: MqttClient): Got => {
    const got: Got = [];
    client.on('message', (topic, payload) => got.push([topic, payload.toString()]));
    return got;
  };

  for (const version of [4, 5] as const) {
    it(`an iosignal publish reaches MQTT subscribers of the topic, + and # (MQTT ${version})`, async () => {
      const sub = await mq(version);
      const got = collect(sub);
      await sub.subscribeAsync({ [`v${version}/sensor/temp`]: { qos: 1 }, [`v${version}/sensor/+`]: { qos: 0 } });
      const other = await mq(version);
      const got2 = collect(other);
      await other.subscribeAsync(`v${version}/#`);
      const pub = await io('cong');
      pub.signal(`v${version}/sensor/temp`, '21.5');
      pub.signal(`v${version}/other`, { a: 1 });
      await waitFor(() => got.length >= 1 && got2.length >= 2, 3000, 'deliveries');
      assert.deepEqual(got, [[`v${version}/sensor/temp`, '21.5']], 'one delivery for overlapping subscriptions');
      assert.deepEqual(got2.sort(), [[`v${version}/other`, '{"a":1}'], [`v${version}/sensor/temp`, '21.5']]);
    });

    it(`an MQTT publish reaches iosignal subscribers, text, JSON and binary (MQTT ${version})`, async () => {
      const rx = await io('ws');
      const tag = `m${version}/state`;
      rx.subscribe(tag);
      await rx.echo('sync');
      const got: SignalMessage[] = [];
      rx.on('message', (m) => {
        if (m.tag === tag) got.push(m);
      });
      const pub = await mq(version);
      await pub.publishAsync(tag, 'on', { qos: 1 });
      await pub.publishAsync(tag, '{"x":[1,2]}', { qos: 2 });
      await pub.publishAsync(tag, Buffer.from([0, 1, 255]), { qos: 0 });
      await waitFor(() => got.length >= 3, 3000, 'three signals');
      assert.deepEqual(
        got.map((m) => [m.payloadTypeName, m.values]),
        [
          ['TEXT', ['on']],
          ['OBJECT', [{ x: [1, 2] }]],
          ['BINARY', [Buffer.from([0, 1, 255])]],
        ],
      );
    });
  }

  it('MQTT over WebSocket (subprotocol mqtt) on the -l port shares the channels', async () => {
    const wsClient = await mq(5, {}, `ws://127.0.0.1:${server.wsPort}/mqtt`);
    const got = collect(wsClient);
    await wsClient.subscribeAsync('ws/+/x');
    const tcp = await mq(4);
    await tcp.publishAsync('ws/a/x', 'via tcp', { qos: 1 });
    const pub = await io('ws');
    pub.signal('ws/b/x', 'via iosignal');
    await waitFor(() => got.length >= 2, 3000, 'two messages over WebSocket');
    assert.deepEqual(got.sort(), [['ws/a/x', 'via tcp'], ['ws/b/x', 'via iosignal']]);
  });

  it('unicast: an iosignal client reaches a logged-in MQTT device by its CID, and the device answers by CID', async () => {
    const device = await mq(5, { username: 'dev1', password: DEV1_KEY, clientId: 'dev1-board' });
    const got = collect(device);
    await device.subscribeAsync('$iosig/inbox/#');
    const app = await io('ws');
    app.signal('D1@cmd', 'reboot');
    await waitFor(() => got.length >= 1, 3000, 'the unicast');
    assert.deepEqual(got, [['$iosig/inbox/cmd', 'reboot']]);
    const replies: SignalMessage[] = [];
    app.on('message', (m) => replies.push(m));
    await device.publishAsync(`$iosig/to/${app.cid}/ack`, 'done', { qos: 1 });
    await waitFor(() => replies.length >= 1, 3000, 'the reply');
    assert.equal(replies[0]!.tag, '@ack');
    assert.deepEqual(replies[0]!.values, ['done']);
  });

  it('a logged-in MQTT device publishes on its CID channel; iosignal subscribers of D1@temp get it', async () => {
    const rx = await io('cong');
    rx.subscribe('D1@temp');
    await rx.echo('sync');
    const got: SignalMessage[] = [];
    rx.on('message', (m) => got.push(m));
    const device = await mq(4, { username: 'dev1', password: DEV1_KEY, clientId: 'dev1-temp' });
    await device.publishAsync('$iosig/self/temp', '22', { qos: 1 });
    await waitFor(() => got.length >= 1, 3000, 'the CID signal');
    assert.equal(got[0]!.tag, 'D1@temp');
    assert.deepEqual(got[0]!.values, ['22']);
  });

  it('an MQTT device going offline publishes the close notice of its CID, as an iosignal client does', async () => {
    const watcher = await io('cong');
    watcher.subscribe('D2@state');
    await watcher.echo('sync');
    const seen: SignalMessage[] = [];
    watcher.on('message', (m) => seen.push(m));
    const device = await mq(5, { username: 'dev2', password: 'device-two-key', clientId: 'dev2-notice' });
    await device.endAsync();
    await waitFor(() => seen.length >= 1, 3000, 'the close notice');
    assert.equal(seen[0]!.tag, 'D2@state');
    assert.deepEqual(seen[0]!.values, ['close']);
  });

  it('retained: an iosignal `$` channel value arrives as a retained MQTT message, and an MQTT retained value is iosig`s too', async () => {
    const pub = await io('ws');
    pub.signal('lamp$', 'off');
    await pub.echo('sync');
    const sub = await mq(5);
    const got: Array<[string, string, boolean]> = [];
    sub.on('message', (topic, payload, packet) => got.push([topic, payload.toString(), packet.retain]));
    await sub.subscribeAsync('lamp$');
    await waitFor(() => got.length >= 1, 3000, 'the retained value');
    assert.deepEqual(got[0], ['lamp$', 'off', true]);
    const mpub = await mq(4);
    await mpub.publishAsync('door$', 'open', { qos: 1, retain: true });
    const late = await io('cong');
    const seen: SignalMessage[] = [];
    late.on('message', (m) => seen.push(m));
    late.subscribe('door$');
    await waitFor(() => seen.length >= 1, 3000, 'the retained signal');
    assert.deepEqual(seen[0]!.values, ['open']);
  });

  it('a wrong password is refused with 0x86 (MQTT 5) and counted as a failed login', async () => {
    const before = server.broker.stats.authFail;
    await assert.rejects(mq(5, { username: 'dev1', password: 'wrong' }), /Bad User Name or Password|134/i);
    assert.equal(server.broker.stats.authFail, before + 1);
  });

  it('$SYS/broker topics are readable, and /metrics counts MQTT connections', async () => {
    const sub = await mq(4);
    const got = collect(sub);
    await sub.subscribeAsync('$SYS/broker/#');
    await waitFor(() => got.some(([t]) => t === '$SYS/broker/clients/connected'), 3000, '$SYS figures');
    const sample = server.mqtt!.sample();
    assert.ok(sample.connections >= 1);
    const res = await fetch(`http://127.0.0.1:${server.wsPort}/metrics`);
    const text = await res.text();
    assert.match(text, /iosig_mqtt_connections \d+/);
    assert.match(text, /iosig_connections_accepted_total\{transport="mqtt"\} [1-9]/);
    // /api/status from loopback reads lists: MQTT clients are devices of kind mqtt, with their sample.
    const status = (await (await fetch(`http://127.0.0.1:${server.wsPort}/api/status?list=connections`)).json()) as {
      metrics: { mqtt: { connections: number; sessions: number } | null };
      connections: Array<{ kind: string; transport: string; nick: string; cid: string }>;
    };
    assert.ok(status.metrics.mqtt && status.metrics.mqtt.connections >= 1 && status.metrics.mqtt.sessions >= 1);
    const mqttDevices = status.connections.filter((c) => c.kind === 'mqtt');
    assert.ok(mqttDevices.length >= 1, JSON.stringify(status.connections));
    assert.ok(mqttDevices.some((c) => c.transport === 'mqtt'));
    assert.ok(server.connectionList().some((c) => c.kind === 'mqtt' && c.cid !== ''));
  });
});
