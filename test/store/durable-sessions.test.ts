// MQTT persistent sessions in the durable store: the engine's hub stores a session that goes offline, the process
// "restarts" (hub and store closed, both opened again on the same LMDB directory), and the client resumes it:
// session present, its in-flight message again with DUP and the same identifier, its queue after it, its
// subscriptions in force. And the journal, one delivery at a time.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IConnackPacket, Packet } from 'mqtt-packet';
import { MqttHub } from '../../src/mqtt/hub.js';
import { MemoryMqttBroker } from '../../src/mqtt/memory-broker.js';
import { DurableSessions } from '../../src/mqtt/durable-sessions.js';
import type { MqttBrokerPort, SessionStore, StoredDelivery } from '../../src/mqtt/port.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { MemoryStore, MemoryVolume } from '../../src/store/memory-store.js';
import { ManualClock } from '../kit/manual-clock.js';
import { PipeClient } from '../mqtt/support.js';
import { waitFor } from '../kit/wait.js';

/** The engine's in-memory broker, with its sessions in the durable store. */
function durableBroker(sessions: SessionStore): MqttBrokerPort {
  const b = new MemoryMqttBroker();
  return {
    authenticate: (request) => b.authenticate(request),
    subscribe: (subscriber, filter, group, options) => b.subscribe(subscriber, filter, group, options),
    unsubscribe: (subscriber, filter, group) => b.unsubscribe(subscriber, filter, group),
    publish: (message, publisher) => b.publish(message, publisher),
    retained: (filter, visit) => b.retained(filter, visit),
    sessions,
  };
}

const connack = (c: PipeClient): IConnackPacket | undefined => c.of('connack')[0];

function connect(hub: MqttHub, clientId: string, extra: Record<string, unknown> = {}): PipeClient {
  const client = new PipeClient(5);
  client.conn = hub.accept(client);
  client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 0, ...extra } as Packet);
  return client;
}

const publish = (topic: string, text: string, messageId: number): Packet => ({ cmd: 'publish', topic, payload: Buffer.from(text), qos: 1, retain: false, dup: false, messageId }) as Packet;

describe('MQTT sessions in the durable store', () => {
  const root = mkdtempSync(join(tmpdir(), 'iosig-sessions-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('a persistent session survives a restart: in flight again with DUP, then its queue, subscriptions kept', async () => {
    const dir = join(root, 'restart');
    const clock = new ManualClock();
    let store = LmdbStore.open(dir);
    let hub = new MqttHub({ port: durableBroker(new DurableSessions(store, () => clock.now())), clock });
    const persistent = { clean: false, properties: { sessionExpiryInterval: 3600, receiveMaximum: 1 } };
    const r = connect(hub, 'r', persistent);
    await waitFor(() => connack(r) !== undefined, 2000, 'CONNACK (the store is asked for a session first)');
    assert.equal(connack(r)!.reasonCode, 0);
    assert.equal(connack(r)!.sessionPresent, false);
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensor/#', qos: 1 }] } as Packet);
    const p = connect(hub, 'p');
    p.send(publish('sensor/a', 'in-flight', 1));
    p.send(publish('sensor/b', 'queued', 2)); // the client's window is 1: it waits in the queue
    const first = r.of('publish');
    assert.equal(first.length, 1);
    r.drop(); // stored now, with its in-flight message and its queue
    hub.close();
    await store.close(); // SIGTERM: flush and close

    store = LmdbStore.open(dir);
    assert.equal(store.opened.cleanShutdown, true);
    hub = new MqttHub({ port: durableBroker(new DurableSessions(store, () => clock.now())), clock });
    const back = connect(hub, 'r', persistent);
    await waitFor(() => connack(back) !== undefined, 2000, 'CONNACK after the session is read back');
    assert.equal(connack(back)!.sessionPresent, true);
    const again = back.of('publish');
    assert.deepEqual(again.map((m) => [m.payload.toString(), m.messageId, m.dup]), [['in-flight', first[0]!.messageId, true]]);
    back.send({ cmd: 'puback', messageId: again[0]!.messageId! } as Packet);
    assert.deepEqual(back.of('publish').map((m) => m.payload.toString()), ['in-flight', 'queued']);
    back.send({ cmd: 'puback', messageId: back.of('publish')[1]!.messageId! } as Packet);
    const p2 = connect(hub, 'p2');
    p2.send(publish('sensor/c', 'after the restart', 1));
    assert.deepEqual(back.of('publish').map((m) => m.payload.toString()), ['in-flight', 'queued', 'after the restart']);
    hub.close();
    await store.close();
  });

  it('the journal keeps deliveries one at a time: queued, in flight, completed, and only what was committed after a crash', async () => {
    const volume = new MemoryVolume();
    let store = new MemoryStore({ volume });
    let sessions = new DurableSessions(store);
    const d = (text: string, extra: Partial<StoredDelivery> = {}): StoredDelivery => ({ topic: 't', payload: Buffer.from(text), qos: 1, retain: false, subscriptionIds: [], view: 'as-is', ...extra });
    sessions.record({ clientId: 'c', expiry: 60, disconnectedAt: 1, subscriptions: [], inboundQos2: [7] });
    const a = sessions.queued('c', d('a'));
    const b = sessions.queued('c', d('b'));
    const c = sessions.queued('c', d('c'));
    sessions.changed('c', a, d('a', { packetId: 5, state: 'publish' }));
    sessions.changed('c', b, d('b', { packetId: 6, state: 'publish' }));
    sessions.completed('c', a); // PUBACK
    await store.flush();
    sessions.queued('c', d('lost in the crash'));
    await store.crash();
    store = new MemoryStore({ volume });
    sessions = new DurableSessions(store);
    const back = await sessions.get('c');
    assert.ok(back);
    assert.deepEqual(back.inboundQos2, [7]);
    assert.deepEqual(back.inflight.map((x) => [x.payload.toString(), x.packetId]), [['b', 6]]);
    assert.deepEqual(back.queue.map((x) => x.payload.toString()), ['c']);
    // Offsets go on after the last one read back.
    assert.ok(sessions.queued('c', d('next')) > c);
    sessions.delete('c');
    await store.flush();
    assert.equal(await sessions.get('c'), undefined);
    await store.close();
  });
});
