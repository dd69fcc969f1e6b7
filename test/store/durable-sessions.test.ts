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
import { StoredSessions } from '../../src/broker/stored-sessions.js';
import { RC } from '../../src/mqtt/codes.js';
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

  /** What io-server does at start: every stored session read back, the journal continued. */
  async function reopen(volume: MemoryVolume, clock: ManualClock): Promise<{ store: MemoryStore; hub: MqttHub }> {
    const store = new MemoryStore({ volume });
    const found = new StoredSessions();
    await store.load({ session: (id, data) => found.session(id, data), log: (name, meta, entries) => void found.log(name, meta, entries) });
    const { journal, sessions } = found.take(store);
    return { store, hub: new MqttHub({ port: durableBroker(journal), clock, restored: sessions }) };
  }

  it('journaled: a crash keeps what was committed (QoS 2 states, inbound QoS 2 ids, the queue); acknowledgements wait for the commit; subscriptions in force before the client is back; expiry honoured', async () => {
    const clock = new ManualClock();
    const volume = new MemoryVolume();
    let store = new MemoryStore({ volume });
    let hub = new MqttHub({ port: durableBroker(new DurableSessions(store, () => clock.now())), clock, restored: [] });
    const persistent = { clean: false, properties: { sessionExpiryInterval: 100, receiveMaximum: 1 } };
    const r = connect(hub, 'r', persistent);
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q/#', qos: 2 }] } as Packet);
    const p = connect(hub, 'p');
    p.send({ cmd: 'publish', topic: 'q/a', payload: Buffer.from('two'), qos: 2, retain: false, dup: false, messageId: 1 } as Packet);
    assert.equal(p.of('pubrec').length, 0, 'PUBREC waits for the commit of the journaled delivery');
    await waitFor(() => p.of('pubrec').length === 1, 2000, 'PUBREC after the commit');
    const sent = r.of('publish')[0]!;
    r.send({ cmd: 'pubrec', messageId: sent.messageId! } as Packet); // the exchange is at PUBREL now
    p.send(publish('q/b', 'queued', 2)); // r's window is full: queued
    p.send(publish('none/x', 'nobody', 3)); // no persistent session: nothing to wait for
    assert.deepEqual(p.of('puback').map((a) => a.messageId), [], 'acknowledgements keep their order');
    await waitFor(() => p.of('puback').length === 2, 2000, 'both PUBACKs');
    assert.deepEqual(p.of('puback').map((a) => a.messageId), [2, 3]);
    r.send({ cmd: 'publish', topic: 'x/1', payload: Buffer.from('in'), qos: 2, retain: false, dup: false, messageId: 9 } as Packet);
    await waitFor(() => r.of('pubrec').length === 1, 2000, 'PUBREC for the inbound QoS 2 message');
    const e = connect(hub, 'e', { clean: false, properties: { sessionExpiryInterval: 10 } });
    e.drop();
    await store.flush();
    p.send(publish('q/lost', 'not acknowledged', 4)); // handed over, never committed: the crash takes it
    assert.equal(p.of('puback').length, 2);
    hub.close();
    await store.crash();

    clock.advance(50_000); // r: 50 s of its 100 left (it was online: counted from the restart); e: expired
    ({ store, hub } = await reopen(volume, clock));
    assert.equal(hub.session('e'), undefined, 'an expired session is dropped at start-up');
    assert.ok(hub.session('r'));
    const p2 = connect(hub, 'p2');
    p2.send(publish('q/c', 'after the restart', 1)); // r is away: queued through its restored subscription
    await waitFor(() => p2.of('puback').length === 1, 2000, 'PUBACK after the restart');
    const back = connect(hub, 'r', persistent);
    await waitFor(() => connack(back) !== undefined, 2000, 'CONNACK');
    assert.equal(connack(back)!.sessionPresent, true);
    assert.deepEqual(back.of('pubrel').map((x) => x.messageId), [sent.messageId], 'the QoS 2 exchange resumes at PUBREL');
    back.send({ cmd: 'pubcomp', messageId: sent.messageId! } as Packet);
    back.send({ cmd: 'puback', messageId: back.of('publish')[0]!.messageId! } as Packet);
    assert.deepEqual(back.of('publish').map((m) => m.payload.toString()), ['queued', 'after the restart']);
    back.send({ cmd: 'pubrel', messageId: 9 } as Packet);
    assert.equal(back.of('pubcomp')[0]!.reasonCode ?? 0, RC.SUCCESS, 'the inbound QoS 2 id was kept');
    back.drop();
    await store.flush();

    clock.advance(101_000); // its expiry runs out while the process runs
    assert.equal(hub.session('r'), undefined);
    hub.close();
    await store.close();
    ({ store, hub } = await reopen(volume, clock));
    assert.equal(hub.session('r'), undefined, 'gone from the store too');
    hub.close();
    await store.close();
  });

  it('past the store pending bound: session writes are deferred and re-read from the hub; every acknowledged message is still there after a crash', async () => {
    const clock = new ManualClock();
    const volume = new MemoryVolume();
    let store = new MemoryStore({ volume, maxPendingBytes: 4096 });
    const journal = new DurableSessions(store, () => clock.now());
    let hub = new MqttHub({ port: durableBroker(journal), clock, restored: [] });
    store.setSource(journal.source((id) => hub.session(id)?.journalState() ?? null));
    const r = connect(hub, 'r', { clean: false, properties: { sessionExpiryInterval: 100 } });
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'big/#', qos: 1 }] } as Packet);
    r.drop();
    const p = connect(hub, 'p');
    const N = 40;
    for (let i = 1; i <= N; i++) p.send({ cmd: 'publish', topic: `big/${i}`, payload: Buffer.alloc(500, 0x61), qos: 1, retain: false, dup: false, messageId: i } as Packet);
    assert.ok(store.stats().deferredKeys > 0, 'writes were deferred');
    await waitFor(() => p.of('puback').length === N, 5000, 'every PUBACK');
    assert.deepEqual(p.of('puback').map((a) => a.messageId), Array.from({ length: N }, (_, i) => i + 1));
    hub.close();
    await store.crash();
    ({ store, hub } = await reopen(volume, clock));
    const back = connect(hub, 'r', { clean: false, properties: { sessionExpiryInterval: 100, receiveMaximum: 65_535 } });
    await waitFor(() => connack(back) !== undefined, 2000, 'CONNACK');
    const topics = new Set<string>();
    for (let i = 0; i < 10 && topics.size < N; i++) {
      for (const m of back.of('publish')) {
        if (!topics.has(m.topic)) back.send({ cmd: 'puback', messageId: m.messageId! } as Packet);
        topics.add(m.topic);
      }
    }
    assert.equal(topics.size, N, `every acknowledged message came back (${topics.size} of ${N})`);
    hub.close();
    await store.close();
  });
});
