// MQTT across two cluster nodes, on a memory hub and on a real redis-server (issue 19 item 5): MQTT clients on different nodes exchange
// messages with each other (wildcards, QoS and MQTT 5 properties kept) and with iosignal clients, and an iosignal
// client on one node reaches an MQTT device logged in on the other by its CID.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { IoClient, type SignalMessage } from '../../src/client/index.js';
import type { IosigServer } from '../../src/index.js';
import { filterInterestKey } from '../../src/mqtt/iosig-port.js';
import { BUS_ENGINES, type BusEngineRun } from '../cluster/engines.js';
import { waitFor } from '../kit/wait.js';
import { clusterOf, interestKnown, startNodeServer } from '../cluster/broker-support.js';

const PREFIX = 'mqttx';
const DEVICES = 'dev1.device-one-key.D1.3';

for (const engine of BUS_ENGINES) describe(`MQTT across two cluster nodes on ${engine.label}`, { skip: engine.skip }, () => {
  let run: BusEngineRun;
  let a: IosigServer;
  let b: IosigServer;
  const mqttClients: MqttClient[] = [];
  const ioClients: IoClient[] = [];
  const opts = { mqttPort: 0, auth: { param: DEVICES }, authFailDelay: 0 };

  before(async () => {
    run = await engine.start();
    a = await startNodeServer(run, PREFIX, opts);
    b = await startNodeServer(run, PREFIX, opts);
    await waitFor(() => clusterOf(a).node.bus.isReady && clusterOf(b).node.bus.isReady, 5000, 'both nodes on the bus');
  });

  after(async () => {
    for (const c of mqttClients.splice(0)) c.end(true);
    for (const c of ioClients.splice(0)) c.close();
    await a.close();
    await b.close();
    await run.stop();
  });

  async function mq(server: IosigServer, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...extra });
    mqttClients.push(client);
    return client;
  }

  async function io(server: IosigServer): Promise<IoClient> {
    const client = new IoClient(`cong://127.0.0.1:${server.congPort}`, { reconnectDelayMs: 50, reconnectMaxDelayMs: 200, callTimeoutMs: 2000 });
    ioClients.push(client);
    await client.whenReady(3000);
    return client;
  }

  it('an MQTT publish on A reaches an MQTT wildcard subscriber on B with its QoS and properties, once', async () => {
    const sub = await mq(b);
    const got: Array<[string, string, number, unknown]> = [];
    sub.on('message', (topic, payload, packet) => got.push([topic, payload.toString(), packet.qos, packet.properties?.userProperties]));
    await sub.subscribeAsync({ 'x/+/t': { qos: 1 }, 'x/#': { qos: 1 } });
    await interestKnown(filterInterestKey('x/+/t'), [a]);
    await interestKnown(filterInterestKey('x/#'), [a]);
    const pub = await mq(a);
    await pub.publishAsync('x/k/t', '21', { qos: 1, properties: { userProperties: { room: 'kitchen' } } });
    await waitFor(() => got.length >= 1, 5000, 'the cross-node delivery');
    // One envelope per matching filter of B: MQTT allows a copy per overlapping subscription [MQTT-3.3.4-2 ff.].
    await waitFor(() => got.length >= 2, 2000, 'both filters');
    for (const [topic, payload, qos, props] of got) {
      assert.equal(topic, 'x/k/t');
      assert.equal(payload, '21');
      assert.equal(qos, 1);
      assert.deepEqual({ ...(props as object) }, { room: 'kitchen' });
    }
  });

  it('an iosignal publish on A reaches MQTT on B, and an MQTT publish on B reaches iosignal on A', async () => {
    const sub = await mq(b);
    const got: Array<[string, string]> = [];
    sub.on('message', (topic, payload) => got.push([topic, payload.toString()]));
    await sub.subscribeAsync('y/+');
    await interestKnown(filterInterestKey('y/+'), [a]);
    const ioA = await io(a);
    ioA.signal('y/one', 'from iosignal');
    await waitFor(() => got.length >= 1, 5000, 'iosignal → MQTT across nodes');
    assert.deepEqual(got, [['y/one', 'from iosignal']]);

    const rx = await io(a);
    const seen: SignalMessage[] = [];
    rx.on('message', (m) => seen.push(m));
    rx.subscribe('z/state');
    await interestKnown('CH:z/state', [b]);
    const pub = await mq(b);
    await pub.publishAsync('z/state', 'on', { qos: 1 });
    await waitFor(() => seen.length >= 1, 5000, 'MQTT → iosignal across nodes');
    assert.equal(seen[0]!.tag, 'z/state');
    assert.deepEqual(seen[0]!.values, ['on']);
  });

  it('an iosignal client on A reaches an MQTT device logged in on B by its CID', async () => {
    const device = await mq(b, { username: 'dev1', password: 'device-one-key', clientId: 'board-1' });
    const got: Array<[string, string]> = [];
    device.on('message', (topic, payload) => got.push([topic, payload.toString()]));
    await device.subscribeAsync('$iosig/inbox/#');
    const app = await io(a);
    // The CID lease reaches Redis asynchronously: send until it arrives (at most once each, so repeat).
    await waitFor(
      () => {
        if (got.length === 0) app.signal('D1@cmd', 'reboot');
        return got.length >= 1;
      },
      5000,
      'the unicast across nodes',
    );
    assert.deepEqual(got[0], ['$iosig/inbox/cmd', 'reboot']);
  });
});
