// The broker's quotas (`--quota`) on MQTT publishes as on iosig clients' messages: signalSize judges the payload,
// trafficRate the client's byte rate (anonymous clients at level 0 here: 1500 bytes and 10 000 bytes/s). Over them a publish is refused with
// PUBACK 0x97 and reaches nobody; with the disconnect switch the client is closed with DISCONNECT 0x95 / 0x96.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import mqtt, { type IDisconnectPacket, type MqttClient } from 'mqtt';
import { startServer, type IosigServer } from '../kit/server.js';
import { waitFor, withTimeout } from '../kit/wait.js';

describe('quotas on MQTT publishes', () => {
  let server: IosigServer | null = null;
  const clients: MqttClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.end(true);
    await server?.close();
    server = null;
  });

  async function connect(port: number, clientId: string): Promise<MqttClient> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, clientId });
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  }

  it('over the size and byte-rate quotas: PUBACK 0x97, nothing delivered; within them: delivered', async () => {
    server = await startServer({ mqttPort: 0, defaultQuotaLevel: 0, useQuota: { signalSize: true, trafficRate: true } });
    const sub = await connect(server.mqttPort!, 'q-sub');
    const got: string[] = [];
    sub.on('message', (_topic, payload) => got.push(payload.toString()));
    await sub.subscribeAsync('q/#', { qos: 1 });
    const pub = await connect(server.mqttPort!, 'q-pub');
    await assert.rejects(pub.publishAsync('q/big', Buffer.alloc(1501, 0x61), { qos: 1 }), /Quota exceeded/);
    await pub.publishAsync('q/small', 'fits', { qos: 1 });
    // 10 000 bytes/s with its burst: 40 publishes of 1000 bytes at once go past it.
    const verdicts = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => pub.publishAsync('q/rate', `${i}`.padEnd(1000, '.'), { qos: 1 })));
    const refused = verdicts.filter((v) => v.status === 'rejected');
    assert.ok(refused.length > 0, 'some were over the byte rate');
    for (const v of refused) assert.match(String((v as PromiseRejectedResult).reason), /Quota exceeded/);
    const accepted = verdicts.length - refused.length;
    await waitFor(() => got.length === 1 + accepted, 5000, 'the accepted publishes');
    assert.ok(!got.some((p) => p.length === 1501), 'the refused one reached nobody');
    assert.ok(server.metrics().quotaViolations >= 1 + refused.length);
  });

  it('with the disconnect switch the client is closed with DISCONNECT 0x95 (too large)', async () => {
    server = await startServer({ mqttPort: 0, defaultQuotaLevel: 0, useQuota: { signalSize: true, disconnect: true } });
    const pub = await connect(server.mqttPort!, 'q-closed');
    const disconnect = withTimeout(new Promise<IDisconnectPacket>((resolve) => pub.once('disconnect', resolve)), 5000, 'DISCONNECT');
    pub.publish('q/big', Buffer.alloc(2000), { qos: 0 });
    assert.equal((await disconnect).reasonCode, 0x95);
  });
});
