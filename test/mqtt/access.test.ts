// The access rules (issue 18) on the MQTT listener (issue 19): a topic is checked as the channel it maps to; a
// refusal is the MQTT reason code 0x87 (NOT_AUTHORIZED), and a refused publish reaches nobody, iosignal
// subscribers included. A wildcard filter is granted when it can match a channel the subscriber may read (refused
// when it can match none); each channel it delivers, live or retained, is then checked, as mosquitto does — a
// denied one is counted (iosig_acl_denials_total) and never delivered, with no answer per message. After a rule
// change every delivery is checked, so a revoked right stops what any subscription delivers.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { ClientPool } from '../kit/raw-client.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { assertQuiet, expectMsg, sub, text } from '../kit/messages.js';
import { waitFor } from '../kit/wait.js';

const RULES = `
allow any subscribe,publish open/#
allow any subscribe news
deny any publish news
allow any publish secret/#
`;

describe('access rules on MQTT clients', () => {
  let server: IosigServer;
  let dir: string;
  let aclPath: string;
  const clients: MqttClient[] = [];
  const pool = new ClientPool();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iosig-mqtt-acl-'));
    aclPath = join(dir, 'acl');
    await writeFile(aclPath, RULES);
    server = await startServer({ mqttPort: 0, access: { aclFile: aclPath } });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.end(true);
    await pool.closeAll();
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function connect(): Promise<MqttClient> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000 });
    clients.push(client);
    return client;
  }

  /** Topics and payloads `client` receives, in order. */
  function received(client: MqttClient): string[] {
    const got: string[] = [];
    client.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`));
    return got;
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
    await assert.rejects(client.subscribeAsync('secret/#', { qos: 1 }), /Not authorized/, 'a filter that can match no readable channel');

    const watcher = await pool.ready('cong', portOf(server, 'cong'));
    watcher.send(sub('news,open/a'));
    await watcher.sync();
    await assert.rejects(client.publishAsync('news', 'not from MQTT', { qos: 1 }), /Not authorized/, 'PUBACK NOT_AUTHORIZED');
    await assertQuiet(watcher);
    await client.publishAsync('open/a', 'hello', { qos: 1 });
    await expectMsg(watcher, text('open/a', 'hello'), 'the allowed publish');
  });

  it('a partly readable wildcard is granted and delivers only the channels the subscriber may read, live and retained', async () => {
    const writer = await connect();
    await writer.publishAsync('secret/kept', 'hidden', { qos: 1, retain: true });
    await writer.publishAsync('open/kept', 'shown', { qos: 1, retain: true });
    const reader = await connect();
    const got = received(reader);
    const denialsBefore = server.metrics().aclDenials.subscribe;
    const granted = await reader.subscribeAsync('#', { qos: 1 });
    assert.deepEqual(granted.map((g) => [g.topic, g.qos]), [['#', 1]], 'granted: it can match readable channels');
    // Live: an MQTT publish and an iosignal one on a channel the reader may not read never reach it.
    const iosignal = await pool.ready('ws', portOf(server, 'ws'));
    iosignal.send(text('secret/live', 'from iosignal'));
    await iosignal.sync();
    await writer.publishAsync('secret/live', 'from mqtt', { qos: 1 });
    await writer.publishAsync('open/live', 'last', { qos: 1 });
    await waitFor(() => got.includes('open/live=last'), 3000, 'the readable live message');
    assert.deepEqual(got, ['open/kept=shown', 'open/live=last']);
    assert.ok(server.metrics().aclDenials.subscribe >= denialsBefore + 2, 'the withheld deliveries are counted');
  });

  it('a rule change stops what a wholly readable subscription delivers on a channel no longer readable', async () => {
    const reader = await connect();
    const got = received(reader);
    await reader.subscribeAsync('open/rc/#', { qos: 1 });
    const writer = await connect();
    await writeFile(aclPath, `${RULES}deny any subscribe open/rc/closed\n`);
    assert.equal(await server.reloadAccess(), true);
    await writer.publishAsync('open/rc/closed', 'revoked', { qos: 1 });
    await writer.publishAsync('open/rc/still', 'readable', { qos: 1 });
    await waitFor(() => got.includes('open/rc/still=readable'), 3000, 'the still readable message');
    assert.deepEqual(got, ['open/rc/still=readable']);
    await writeFile(aclPath, RULES);
    assert.equal(await server.reloadAccess(), true);
  });
});
