// The access rules (issue 18) on the MQTT listener (issue 19): a topic is checked as the channel it maps to, a
// wildcard filter only when every channel it can match is allowed; a refusal is the MQTT reason code 0x87
// (NOT_AUTHORIZED), and a refused publish reaches nobody, iosignal subscribers included.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { ClientPool } from '../kit/raw-client.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { assertQuiet, expectMsg, sub, text } from '../kit/messages.js';

const RULES = `
allow any subscribe,publish open/#
allow any subscribe news
deny any publish news
`;

describe('access rules on MQTT clients', () => {
  let server: IosigServer;
  const clients: MqttClient[] = [];
  const pool = new ClientPool();

  before(async () => {
    server = await startServer({ mqttPort: 0, access: { aclText: RULES } });
  });
  after(async () => {
    for (const c of clients.splice(0)) c.end(true);
    await pool.closeAll();
    await server.close();
  });

  async function connect(): Promise<MqttClient> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000 });
    clients.push(client);
    return client;
  }

  it('SUBACK and PUBACK carry 0x87 where the rules deny; what they allow flows to iosignal clients', async () => {
    const client = await connect();
    const granted = await client.subscribeAsync({ 'open/a': { qos: 1 }, 'open/#': { qos: 1 }, news: { qos: 1 } });
    assert.deepEqual(
      granted.map((g) => [g.topic, g.qos]),
      [['open/a', 1], ['open/#', 1], ['news', 1]],
    );
    // MQTT.js turns a SUBACK or PUBACK reason code of 0x80 and above into an error.
    await assert.rejects(client.subscribeAsync('secret', { qos: 1 }), /Not authorized/, 'a channel no rule allows');
    await assert.rejects(client.subscribeAsync('#', { qos: 1 }), /Not authorized/, 'a filter reaching denied channels');

    const watcher = await pool.ready('cong', portOf(server, 'cong'));
    watcher.send(sub('news,open/a'));
    await watcher.sync();
    await assert.rejects(client.publishAsync('news', 'not from MQTT', { qos: 1 }), /Not authorized/, 'PUBACK NOT_AUTHORIZED');
    await assertQuiet(watcher);
    await client.publishAsync('open/a', 'hello', { qos: 1 });
    await expectMsg(watcher, text('open/a', 'hello'), 'the allowed publish');
  });
});
