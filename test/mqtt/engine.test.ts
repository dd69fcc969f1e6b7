// The MQTT engine against the specifications (MQTT 3.1.1 and 5.0, OASIS), over an in-memory byte pipe: every byte
// the model clients send is made by mqtt-packet, every byte the server writes is parsed back by it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IConnackPacket, IDisconnectPacket, IPublishPacket, Packet } from 'mqtt-packet';
import { RC } from '../../src/mqtt/codes.js';
import { inspectPacket } from '../../src/mqtt/inspect.js';
import { encodePublish } from '../../src/mqtt/publish-encoder.js';
import { scene, texts, type PipeClient } from './support.js';

const connack = (c: PipeClient): IConnackPacket => c.of('connack')[0]!;
const disconnectCode = (c: PipeClient): number | undefined => (c.of('disconnect')[0] as IDisconnectPacket | undefined)?.reasonCode;
const pub = (topic: string, payload: string, extra: Partial<IPublishPacket> = {}): Packet =>
  ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false, ...extra }) as Packet;
const sub = (messageId: number, topic: string, qos = 0, extra: Record<string, unknown> = {}, properties?: Record<string, unknown>): Packet =>
  ({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos, ...extra }], ...(properties && { properties }) }) as Packet;

describe('MQTT engine: CONNECT and CONNACK', () => {
  it('accepts 3.1.1, 3.1 and 5 clients; 5 learns the limits and its CID from CONNACK', () => {
    const s = scene();
    const v4 = s.connect('a', 4);
    assert.deepEqual([connack(v4).returnCode, connack(v4).sessionPresent], [0, false]);
    const v3 = s.connect('b', 3);
    assert.equal(connack(v3).returnCode, 0);
    const v5 = s.connect('c', 5);
    const ack = connack(v5);
    assert.equal(ack.reasonCode, 0);
    assert.equal(ack.properties?.receiveMaximum, 64);
    assert.equal(ack.properties?.maximumPacketSize, 1_048_576);
    assert.equal(ack.properties?.topicAliasMaximum, 64);
    assert.match(String(ack.properties?.userProperties?.['iosig-cid']), /^\?m/);
  });

  it('client identifiers: none with a persistent 3.1.1 session is refused, 5 gets one assigned, too long is refused', () => {
    const s = scene({ maxClientIdBytes: 8 });
    const persistent = s.open(4);
    // mqtt-packet will not write this CONNECT (no identifier, cleanSession 0), so here are its bytes.
    persistent.sendRaw([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00]);
    assert.equal(connack(persistent).returnCode, 2);
    assert.equal(connack(s.connect('', 4, { clean: true })).returnCode, 0);
    const v5 = connack(s.connect('', 5));
    assert.match(String(v5.properties?.assignedClientIdentifier), /^iosig-/);
    assert.equal(connack(s.connect('123456789', 5)).reasonCode, RC.CLIENT_IDENTIFIER_NOT_VALID);
    assert.equal(connack(s.connect('123456789', 4)).returnCode, 2);
  });

  it('an unsupported protocol level gets the 3.1.1 CONNACK 0x01 and the close [MQTT-3.1.2-2]', () => {
    const s = scene();
    const c = s.open();
    c.sendRaw([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x06, 0x02, 0x00, 0x00, 0x00, 0x00]);
    assert.deepEqual(c.rawOut, [Buffer.from([0x20, 0x02, 0x00, 0x01])]);
    assert.ok(c.closedByServer);
  });

  it('a first packet that is not CONNECT is closed without an answer; a second CONNECT is a protocol error', () => {
    const s = scene();
    const c = s.open();
    c.send({ cmd: 'pingreq' });
    assert.deepEqual([c.rawOut.length, c.closedByServer], [0, true]);
    const v5 = s.connect('x', 5);
    v5.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'x', clean: true, keepalive: 0 } as Packet);
    assert.equal(disconnectCode(v5), RC.PROTOCOL_ERROR);
    assert.ok(v5.closedByServer);
  });

  it('refusals carry the right code in each version', () => {
    const s = scene({}, { users: { dev: { password: 'pw', cid: 'D1' } }, allowAnonymous: false });
    assert.equal(connack(s.connect('a', 4, { username: 'dev', password: Buffer.from('no') })).returnCode, 4);
    assert.equal(connack(s.connect('a', 5, { username: 'dev', password: Buffer.from('no') })).reasonCode, RC.BAD_USER_NAME_OR_PASSWORD);
    assert.equal(connack(s.connect('a', 4)).returnCode, 5);
    assert.equal(connack(s.connect('a', 5, { properties: { authenticationMethod: 'SCRAM' } })).reasonCode, RC.BAD_AUTHENTICATION_METHOD);
    const ok = s.connect('a', 5, { username: 'dev', password: Buffer.from('pw') });
    assert.equal(connack(ok).properties?.userProperties?.['iosig-cid'], 'D1');
    // Refused connections leave nothing behind in the hub.
    assert.deepEqual(s.hub.gauges(), { connections: 1, sessions: 1, offlineSessions: 0, inflight: 0, queued: 0, queuedBytes: 0 });
  });

  it('malformed CONNECTs: reserved flag, password without user name (3.1.1), trailing bytes', () => {
    const s = scene();
    const reserved = s.open();
    reserved.sendRaw([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00]);
    assert.deepEqual([reserved.rawOut.length, reserved.closedByServer], [0, true]);
    const password = s.open();
    password.sendRaw([0x10, 0x10, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x70, 0x77]);
    assert.deepEqual([password.rawOut.length, password.closedByServer], [0, true]);
    const v5 = s.open(5);
    // A 5.0 CONNECT with a repeated Receive Maximum: CONNACK 0x82, then the close.
    v5.sendRaw([0x10, 0x13, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x00, 0x06, 0x21, 0x00, 0x0a, 0x21, 0x00, 0x0a, 0x00, 0x00]);
    assert.equal(connack(v5).reasonCode, RC.PROTOCOL_ERROR);
    assert.ok(v5.closedByServer);
  });

  it('a client that sends no CONNECT in time is closed', () => {
    const s = scene({ connectTimeoutMs: 5000 });
    const c = s.open();
    s.clock.advance(4999);
    assert.equal(c.closedByServer, false);
    s.clock.advance(1);
    assert.ok(c.closedByServer);
    assert.equal(s.hub.gauges().connections, 0);
  });

  it('waits for an asynchronous authentication and then handles what the client sent meanwhile, in order', async () => {
    const s = scene();
    let admit!: () => void;
    const original = s.broker.authenticate.bind(s.broker);
    s.broker.authenticate = ((req: Parameters<typeof original>[0]) =>
      new Promise((resolve) => {
        admit = () => resolve(original(req));
      })) as never;
    const c = s.connect('slow', 5);
    c.send(sub(1, 't', 1));
    c.send(pub('t', 'hello', { qos: 1, messageId: 2 }));
    assert.equal(c.received.length, 0);
    admit();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      c.received.map((p) => p.cmd),
      ['connack', 'suback', 'publish', 'puback'],
    );
  });
});

describe('MQTT engine: keepalive', () => {
  it('closes a client silent for 1.5 keepalive periods (5.0: DISCONNECT 0x8D); PINGREQ keeps it', () => {
    const s = scene();
    const c = s.connect('k', 5, { keepalive: 10 });
    s.clock.advance(14_000);
    c.send({ cmd: 'pingreq' });
    assert.equal(c.last()?.cmd, 'pingresp');
    s.clock.advance(14_999);
    assert.equal(c.closedByServer, false);
    s.clock.advance(1);
    assert.equal(disconnectCode(c), RC.KEEP_ALIVE_TIMEOUT);
    assert.ok(c.closedByServer);
  });

  it('maxKeepAlive lowers a longer (or zero) keepalive and says so in Server Keep Alive', () => {
    const s = scene({ maxKeepAlive: 30 });
    const c = s.connect('k', 5, { keepalive: 0 });
    assert.equal(connack(c).properties?.serverKeepAlive, 30);
    s.clock.advance(45_000);
    assert.ok(c.closedByServer);
  });
});

describe('MQTT engine: publish and subscribe', () => {
  it('wildcards match by level; `$` topics are not matched by a first-level wildcard', () => {
    const s = scene();
    const all = s.connect('all');
    all.send(sub(1, '#'));
    const plus = s.connect('plus');
    plus.send(sub(1, 'sensor/+/temp'));
    const sys = s.connect('sys');
    sys.send(sub(1, '$iosig/cid/#'));
    const p = s.connect('p');
    p.send(pub('sensor/a/temp', '1'));
    p.send(pub('sensor/a/b/temp', '2'));
    p.send(pub('$iosig/self/x', '3'));
    assert.deepEqual(texts(all), ['1', '2']);
    assert.deepEqual(texts(plus), ['1']);
    assert.deepEqual(texts(sys), ['3']);
  });

  it('QoS 1 both ways: PUBACK to the publisher, the lower QoS of message and subscription to the subscriber', () => {
    const s = scene();
    const q1 = s.connect('q1');
    q1.send(sub(1, 't', 1));
    const q0 = s.connect('q0');
    q0.send(sub(1, 't', 0));
    const p = s.connect('p');
    p.send(pub('t', 'm', { qos: 1, messageId: 9 }));
    assert.deepEqual(p.of('puback').map((a) => a.messageId), [9]);
    const got = q1.of('publish')[0]!;
    assert.equal(got.qos, 1);
    assert.ok((got.messageId ?? 0) > 0);
    assert.equal(q0.of('publish')[0]!.qos, 0);
  });

  it('QoS 2 inbound is delivered exactly once: a repeated PUBLISH only gets PUBREC again; PUBREL gets PUBCOMP', () => {
    const s = scene();
    const r = s.connect('r');
    r.send(sub(1, 't', 0));
    const p = s.connect('p', 5);
    p.send(pub('t', 'once', { qos: 2, messageId: 7 }));
    p.send(pub('t', 'once', { qos: 2, messageId: 7, dup: true }));
    assert.deepEqual(p.of('pubrec').map((a) => a.messageId), [7, 7]);
    assert.deepEqual(texts(r), ['once']);
    p.send({ cmd: 'pubrel', messageId: 7 } as Packet);
    assert.deepEqual(p.of('pubcomp').map((a) => a.messageId), [7]);
    p.send({ cmd: 'pubrel', messageId: 7 } as Packet);
    assert.equal(p.of('pubcomp')[1]!.reasonCode, RC.PACKET_IDENTIFIER_NOT_FOUND);
  });

  it('one message to subscribers of different QoS: each gets its own QoS (the shared encoding is per QoS)', () => {
    const s = scene();
    const q1 = s.connect('q1', 5);
    q1.send(sub(1, 'a/b', 1));
    const q2 = s.connect('q2', 5);
    q2.send(sub(1, 'a/b', 2));
    const q0 = s.connect('q0', 5);
    q0.send(sub(1, 'a/b', 0));
    s.connect('p').send(pub('a/b', 'x', { qos: 2, messageId: 3 }));
    assert.deepEqual([q1, q2, q0].map((c) => c.of('publish')[0]!.qos), [1, 2, 0]);
  });

  it('QoS 2 outbound: PUBREC is answered with PUBREL, PUBCOMP frees the identifier', () => {
    const s = scene();
    const r = s.connect('r');
    r.send(sub(1, 't', 2));
    s.connect('p').send(pub('t', 'x', { qos: 2, messageId: 1 }));
    const id = r.of('publish')[0]!.messageId!;
    r.send({ cmd: 'pubrec', messageId: id } as Packet);
    assert.deepEqual(r.of('pubrel').map((a) => a.messageId), [id]);
    assert.equal(s.hub.session('r')!.inflight.size, 1);
    r.send({ cmd: 'pubcomp', messageId: id } as Packet);
    assert.equal(s.hub.session('r')!.inflight.size, 0);
  });

  it('never has more QoS 1/2 messages in flight than the client Receive Maximum; acks let the queue flow', () => {
    const s = scene();
    const r = s.connect('r', 5, { properties: { receiveMaximum: 2 } });
    r.send(sub(1, 't', 1));
    const p = s.connect('p');
    for (let i = 0; i < 5; i++) p.send(pub('t', `m${i}`, { qos: 1, messageId: i + 1 }));
    assert.deepEqual(texts(r), ['m0', 'm1']);
    r.send({ cmd: 'puback', messageId: r.of('publish')[0]!.messageId! } as Packet);
    assert.deepEqual(texts(r), ['m0', 'm1', 'm2']);
    for (const m of r.of('publish').slice(1)) r.send({ cmd: 'puback', messageId: m.messageId! } as Packet);
    r.send({ cmd: 'puback', messageId: r.of('publish')[3]!.messageId! } as Packet);
    assert.deepEqual(texts(r), ['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  it('retained messages: RETAIN set for a new subscription, cleared on live deliveries (3.1.1), kept with Retain As Published (5)', () => {
    const s = scene();
    const p = s.connect('p');
    p.send(pub('r/t', 'kept', { retain: true }));
    const v4 = s.connect('v4');
    v4.send(sub(1, 'r/#'));
    assert.deepEqual([texts(v4), v4.of('publish')[0]!.retain], [['kept'], true]);
    const rap = s.connect('rap', 5);
    rap.send(sub(1, 'r/t', 0, { rap: true, nl: false, rh: 0 }));
    p.send(pub('r/t', 'live', { retain: true }));
    assert.equal(v4.of('publish')[1]!.retain, false);
    assert.deepEqual(rap.of('publish').map((m) => [m.payload.toString(), m.retain]), [['kept', true], ['live', true]]);
    p.send(pub('r/t', '', { retain: true }));
    const late = s.connect('late');
    late.send(sub(1, 'r/t'));
    assert.deepEqual(texts(late), []);
  });

  it('Retain Handling 1 sends retained messages for a new subscription only, 2 never; shared subscriptions get none', () => {
    const s = scene();
    s.connect('p').send(pub('t', 'v', { retain: true }));
    const c = s.connect('c', 5);
    c.send(sub(1, 't', 0, { rh: 1, nl: false, rap: false }));
    c.send(sub(2, 't', 0, { rh: 1, nl: false, rap: false }));
    c.send(sub(3, 'u/#', 0, { rh: 2, nl: false, rap: false }));
    c.send(sub(4, '$share/g/t', 0, { rh: 0, nl: false, rap: false }));
    assert.deepEqual(texts(c), ['v']);
  });

  it('No Local keeps a client\'s own messages from it; overlapping subscriptions give one message with every identifier', () => {
    const s = scene();
    const c = s.connect('c', 5);
    c.send(sub(1, 'a/b', 0, { nl: true, rap: false, rh: 0 }));
    c.send(pub('a/b', 'own'));
    assert.deepEqual(texts(c), []);
    const d = s.connect('d', 5);
    d.send(sub(1, 'x/+', 0, { nl: false, rap: false, rh: 0 }, { subscriptionIdentifier: 7 }));
    d.send(sub(2, 'x/#', 1, { nl: false, rap: false, rh: 0 }, { subscriptionIdentifier: 9 }));
    s.connect('p').send(pub('x/y', 'one', { qos: 1, messageId: 1 }));
    const got = d.of('publish');
    assert.equal(got.length, 1);
    assert.equal(got[0]!.qos, 1);
    assert.deepEqual([...((got[0]!.properties?.subscriptionIdentifier as number[] | undefined) ?? [])].sort(), [7, 9]);
  });

  it('shared subscriptions deliver each message to one member, in turn', () => {
    const s = scene();
    const a = s.connect('a', 5);
    const b = s.connect('b');
    a.send(sub(1, '$share/work/jobs/+'));
    b.send(sub(1, '$share/work/jobs/+'));
    const p = s.connect('p');
    for (let i = 0; i < 6; i++) p.send(pub('jobs/x', `${i}`));
    assert.deepEqual([texts(a).length, texts(b).length], [3, 3]);
    assert.deepEqual([...texts(a), ...texts(b)].sort(), ['0', '1', '2', '3', '4', '5']);
    a.send(sub(2, '$share/work/jobs/+', 0, { nl: true, rap: false, rh: 0 }));
    assert.equal(disconnectCode(a), RC.PROTOCOL_ERROR);
  });

  it('SUBACK and UNSUBACK reason codes: invalid filter, quota, unknown subscription', () => {
    const s = scene({ maxSubscriptionsPerSession: 2 });
    const c = s.connect('c', 5);
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#/b', qos: 0 }, { topic: 'ok', qos: 2 }, { topic: 'ok2', qos: 1 }, { topic: 'three', qos: 1 }] } as Packet);
    assert.deepEqual(c.of('suback')[0]!.granted, [RC.TOPIC_FILTER_INVALID, 2, 1, RC.QUOTA_EXCEEDED]);
    c.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['ok', 'never', 'a/#/b'] } as Packet);
    assert.deepEqual(c.of('unsuback')[0]!.granted, [RC.SUCCESS, RC.NO_SUBSCRIPTION_EXISTED, RC.TOPIC_FILTER_INVALID]);
    const v4 = s.connect('v4');
    v4.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a+', qos: 1 }, { topic: 'ok', qos: 1 }] } as Packet);
    assert.deepEqual(v4.of('suback')[0]!.granted, [0x80, 1]);
  });
});

describe('MQTT engine: sessions', () => {
  it('a persistent 3.1.1 session queues QoS 1 while offline and resends unacknowledged messages with DUP', () => {
    const s = scene();
    const r = s.connect('r', 4, { clean: false });
    r.send(sub(1, 't', 1));
    const p = s.connect('p');
    p.send(pub('t', 'in-flight', { qos: 1, messageId: 1 }));
    r.drop();
    p.send(pub('t', 'queued', { qos: 1, messageId: 2 }));
    p.send(pub('t', 'qos0-dropped'));
    const again = s.connect('r', 4, { clean: false });
    assert.equal(connack(again).sessionPresent, true);
    const got = again.of('publish');
    assert.deepEqual(got.map((m) => [m.payload.toString(), m.dup]), [['in-flight', true], ['queued', false]]);
    assert.equal(got[0]!.messageId, r.of('publish')[0]!.messageId);
  });

  it('a session resumed with a smaller Receive Maximum gets its in-flight messages again within it, identifiers kept', () => {
    const s = scene();
    const r = s.connect('r', 5, { clean: false, properties: { sessionExpiryInterval: 60, receiveMaximum: 3 } });
    r.send(sub(1, 't', 2));
    const p = s.connect('p');
    for (let i = 0; i < 4; i++) p.send(pub('t', `m${i}`, { qos: 2, messageId: i + 1 }));
    const first = r.of('publish').map((m) => [m.payload.toString(), m.messageId]);
    assert.equal(first.length, 3);
    r.drop();
    const back = s.connect('r', 5, { clean: false, properties: { sessionExpiryInterval: 60, receiveMaximum: 1 } });
    const again = (): Array<[string, number | undefined, boolean]> => back.of('publish').map((m) => [m.payload.toString(), m.messageId, m.dup]);
    assert.deepEqual(again(), [[first[0]![0] as string, first[0]![1] as number, true]]);
    for (let n = 1; n <= 3; n++) {
      const last = back.of('publish')[n - 1]!;
      back.send({ cmd: 'pubrec', messageId: last.messageId! } as Packet);
      back.send({ cmd: 'pubcomp', messageId: last.messageId! } as Packet);
      assert.equal(back.of('publish').length, n + 1);
    }
    assert.deepEqual(again().slice(0, 3), first.map(([t, id]) => [t, id, true]));
    assert.deepEqual(again()[3]!.slice(0, 1), ['m3']);
  });

  it('a clean start drops the old session; the queue bound drops what does not fit, and counts it', () => {
    const s = scene({ maxQueuedMessages: 2 });
    const r = s.connect('r', 4, { clean: false });
    r.send(sub(1, 't', 1));
    r.drop();
    const p = s.connect('p');
    for (let i = 0; i < 5; i++) p.send(pub('t', `m${i}`, { qos: 1, messageId: i + 1 }));
    assert.equal(s.hub.stats.droppedQueueFull, 3);
    const back = s.connect('r', 4, { clean: false });
    assert.deepEqual(texts(back), ['m0', 'm1']);
    back.drop();
    const fresh = s.connect('r', 4, { clean: true });
    assert.equal(connack(fresh).sessionPresent, false);
    p.send(pub('t', 'after', { qos: 1, messageId: 9 }));
    assert.deepEqual(texts(fresh), []);
  });

  it('session expiry: kept for its interval, gone after; a longer request is lowered and CONNACK says so', () => {
    const s = scene({ maxSessionExpiry: 60 });
    const c = s.connect('e', 5, { clean: false, properties: { sessionExpiryInterval: 3600 } });
    assert.equal(connack(c).properties?.sessionExpiryInterval, 60);
    c.send(sub(1, 't', 1));
    c.drop();
    s.clock.advance(59_000);
    const conn = s.connect('e', 5, { clean: false, properties: { sessionExpiryInterval: 10 } });
    assert.equal(connack(conn).sessionPresent, true);
    conn.drop();
    s.clock.advance(10_001);
    assert.equal(s.hub.session('e'), undefined);
    assert.equal(connack(s.connect('e', 5, { clean: false, properties: { sessionExpiryInterval: 10 } })).sessionPresent, false);
  });

  it('a second connection with the same client identifier takes the session over (5.0: DISCONNECT 0x8E)', () => {
    const s = scene();
    const first = s.connect('dup', 5, { clean: false, properties: { sessionExpiryInterval: 100 } });
    first.send(sub(1, 't', 1));
    const second = s.connect('dup', 5, { clean: false, properties: { sessionExpiryInterval: 100 } });
    assert.equal(disconnectCode(first), RC.SESSION_TAKEN_OVER);
    assert.ok(first.closedByServer);
    assert.equal(connack(second).sessionPresent, true);
    s.connect('p').send(pub('t', 'to-new'));
    assert.deepEqual([texts(first), texts(second)], [[], ['to-new']]);
    assert.equal(s.hub.stats.takeovers, 1);
  });

  it('offline sessions past maxOfflineSessions end, the one offline longest first', () => {
    const s = scene({ maxOfflineSessions: 2 });
    for (const id of ['s1', 's2', 's3']) s.connect(id, 4, { clean: false }).drop();
    assert.equal(s.hub.session('s1'), undefined);
    assert.ok(s.hub.session('s2') && s.hub.session('s3'));
    assert.equal(s.hub.gauges().offlineSessions, 2);
  });
});

describe('MQTT engine: will messages', () => {
  const will = (delay?: number): Record<string, unknown> => ({
    will: { topic: 'wills/x', payload: Buffer.from('gone'), qos: 1, retain: false, ...(delay !== undefined && { properties: { willDelayInterval: delay } }) },
  });

  it('published when the network drops, not after a normal DISCONNECT; 0x04 asks for it', () => {
    const s = scene();
    const w = s.connect('w');
    w.send(sub(1, 'wills/#', 1));
    s.connect('a', 4, will()).drop();
    s.connect('b', 4, will()).send({ cmd: 'disconnect' } as Packet);
    s.connect('c', 5, will()).send({ cmd: 'disconnect', reasonCode: RC.DISCONNECT_WITH_WILL } as Packet);
    assert.deepEqual(texts(w), ['gone', 'gone']);
    assert.equal(s.hub.stats.willsPublished, 2);
  });

  it('Will Delay: a reconnect within the delay cancels it; otherwise it goes at the delay or at the session end', () => {
    const s = scene();
    const w = s.connect('w');
    w.send(sub(1, 'wills/#'));
    s.connect('d', 5, { ...will(10), clean: false, properties: { sessionExpiryInterval: 100 } }).drop();
    s.clock.advance(5000);
    s.connect('d', 5, { clean: false, properties: { sessionExpiryInterval: 100 } });
    s.clock.advance(20_000);
    assert.deepEqual(texts(w), []);
    s.connect('e', 5, { ...will(10), clean: false, properties: { sessionExpiryInterval: 100 } }).drop();
    s.clock.advance(10_000);
    assert.deepEqual(texts(w), ['gone']);
    s.connect('f', 5, { ...will(60), clean: false, properties: { sessionExpiryInterval: 3 } }).drop();
    s.clock.advance(3000);
    assert.deepEqual(texts(w), ['gone', 'gone']);
  });
});

describe('MQTT engine: MQTT 5 properties', () => {
  it('topic aliases from the client: set, used, and refused when 0, too large or unknown', () => {
    const s = scene({ topicAliasMaximum: 4 });
    const r = s.connect('r');
    r.send(sub(1, 'long/topic/name'));
    const p = s.connect('p', 5);
    p.send(pub('long/topic/name', 'one', { properties: { topicAlias: 3 } }));
    p.send(pub('', 'two', { properties: { topicAlias: 3 } }));
    assert.deepEqual(texts(r), ['one', 'two']);
    const zero = s.connect('z', 5);
    zero.send(pub('t', 'x', { properties: { topicAlias: 5 } }));
    assert.equal(disconnectCode(zero), RC.TOPIC_ALIAS_INVALID);
    const unknown = s.connect('u', 5);
    unknown.send(pub('', 'x', { properties: { topicAlias: 2 } }));
    assert.equal(disconnectCode(unknown), RC.PROTOCOL_ERROR);
  });

  it('topic aliases to the client within its Topic Alias Maximum', () => {
    const s = scene();
    const r = s.connect('r', 5, { properties: { topicAliasMaximum: 1 } });
    r.send(sub(1, '#'));
    const p = s.connect('p');
    p.send(pub('a', '1'));
    p.send(pub('a', '2'));
    p.send(pub('b', '3'));
    p.send(pub('b', '4'));
    const got = r.of('publish').map((m) => [m.topic, m.properties?.topicAlias]);
    assert.deepEqual(got, [['a', 1], ['', 1], ['b', 1], ['', 1]]);
  });

  it('message expiry: an expired message is not delivered; the interval shrinks with the time spent waiting', () => {
    const s = scene();
    const r = s.connect('r', 5, { clean: false, properties: { sessionExpiryInterval: 100 } });
    r.send(sub(1, 't', 1));
    r.drop();
    const p = s.connect('p', 5);
    p.send(pub('t', 'short', { qos: 1, messageId: 1, properties: { messageExpiryInterval: 5 } }));
    p.send(pub('t', 'long', { qos: 1, messageId: 2, properties: { messageExpiryInterval: 60 } }));
    s.clock.advance(10_000);
    const back = s.connect('r', 5, { clean: false, properties: { sessionExpiryInterval: 100 } });
    assert.deepEqual(texts(back), ['long']);
    assert.equal(back.of('publish')[0]!.properties?.messageExpiryInterval, 50);
  });

  it('user properties keep their order; response topic, correlation data, content type pass through', () => {
    const s = scene();
    const r = s.connect('r', 5);
    r.send(sub(1, 'req'));
    const p = s.connect('p', 5);
    const bytes = encodePublish(
      { topic: 'req', qos: 0, retain: false, dup: false, packetId: 0, payload: Buffer.from('{}') },
      { userProperties: [['a', '1'], ['b', '2'], ['a', '3']], responseTopic: 'resp/p', correlationData: Buffer.from([1, 2]), contentType: 'application/json', payloadFormatIndicator: true },
    ).bytes;
    p.sendRaw(bytes);
    const raw = r.rawOut[r.rawOut.length - 1]!;
    assert.deepEqual(inspectPacket(raw, 2, 'publish', 5).userProperties, [['a', '1'], ['b', '2'], ['a', '3']]);
    const got = r.of('publish')[0]!;
    assert.equal(got.properties?.responseTopic, 'resp/p');
    assert.deepEqual([...(got.properties?.correlationData ?? [])], [1, 2]);
    assert.equal(got.properties?.contentType, 'application/json');
    assert.equal(got.properties?.payloadFormatIndicator, true);
  });

  it('Maximum Packet Size both ways: too large from the client is DISCONNECT 0x95; too large for it is not sent', () => {
    const s = scene({ maxPacketSize: 100 });
    const c = s.connect('c', 5);
    c.send(pub('t', 'x'.repeat(200)));
    assert.equal(disconnectCode(c), RC.PACKET_TOO_LARGE);
    const small = s.connect('small', 5, { properties: { maximumPacketSize: 30 } });
    small.send(sub(1, 't'));
    const p = s.connect('p');
    p.send(pub('t', 'x'.repeat(40)));
    p.send(pub('t', 'fits'));
    assert.deepEqual(texts(small), ['fits']);
    assert.equal(s.hub.stats.droppedTooLarge, 1);
  });

  it('Response Information, when asked for, is the client\'s own unicast prefix: a responder publishes, only it receives', () => {
    const s = scene();
    const requester = s.connect('req', 5, { properties: { requestResponseInformation: true } });
    const info = String(connack(requester).properties?.responseInformation);
    assert.match(info, /^\$iosig\/to\/\?m\w+\/$/);
    assert.equal(connack(s.connect('plain', 5)).properties?.responseInformation, undefined);
    requester.send(sub(1, `${info}#`, 1));
    assert.equal(requester.of('suback')[0]!.granted[0], 1);
    const responder = s.connect('resp', 5);
    responder.send(pub(`${info}job/1`, 'done', { qos: 1, messageId: 1 }));
    assert.deepEqual(requester.of('publish').map((m) => [m.topic, m.payload.toString()]), [[`${info}job/1`, 'done']]);
  });

  it('reason codes on refusals, with reason strings unless Request Problem Information is 0', () => {
    const s = scene();
    const c = s.connect('c', 5);
    c.send(pub('$iosig/cid/other/x', 'forged', { qos: 1, messageId: 1 }));
    c.send(pub('$SYS/broker', 'no', { qos: 1, messageId: 2 }));
    c.send(pub('t', Buffer.from([0xff, 0xfe]) as unknown as string, { qos: 1, messageId: 3, properties: { payloadFormatIndicator: true } }));
    const acks = c.of('puback');
    assert.deepEqual(acks.map((a) => a.reasonCode), [RC.NOT_AUTHORIZED, RC.TOPIC_NAME_INVALID, RC.PAYLOAD_FORMAT_INVALID]);
    assert.ok(acks[0]!.properties?.reasonString);
    const quiet = s.connect('q', 5, { properties: { requestProblemInformation: false } });
    quiet.send(pub('$SYS/x', 'no', { qos: 1, messageId: 1 }));
    assert.equal(quiet.of('puback')[0]!.properties?.reasonString, undefined);
    assert.equal(c.of('puback').length, 3);
    c.send(pub('t', 'n', { qos: 1, messageId: 4 }));
    assert.equal(c.of('puback')[3]!.reasonCode, RC.NO_MATCHING_SUBSCRIBERS);
  });

  it('too many unreleased QoS 2 messages is DISCONNECT 0x93; a session expiry raised from 0 on DISCONNECT is 0x82', () => {
    const s = scene({ receiveMaximum: 3 });
    const c = s.connect('c', 5);
    for (let i = 1; i <= 4; i++) c.send(pub('t', 'x', { qos: 2, messageId: i }));
    assert.equal(disconnectCode(c), RC.RECEIVE_MAXIMUM_EXCEEDED);
    const d = s.connect('d', 5);
    d.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 30 } } as Packet);
    assert.equal(disconnectCode(d), RC.PROTOCOL_ERROR);
  });
});

describe('MQTT engine: iosig addressing and hostile input', () => {
  it('unicast to a CID reaches its inbox; nobody subscribes to another CID\'s unicasts; home channels are per network', () => {
    const s = scene({}, { home: (address) => (address === '8.8.4.4' ? 'IP:08080404' : 'PRIVATE:') });
    const target = s.connect('t', 5);
    const cid = String(connack(target).properties?.userProperties?.['iosig-cid']);
    target.send(sub(1, '$iosig/inbox/#'));
    const spy = s.connect('spy', 5);
    spy.send(sub(1, `$iosig/to/${cid}/#`));
    assert.equal(spy.of('suback')[0]!.granted[0], RC.NOT_AUTHORIZED);
    s.connect('p').send(pub(`$iosig/to/${cid}/cmd`, 'on'));
    assert.deepEqual(target.of('publish').map((m) => m.topic), ['$iosig/inbox/cmd']);
    const lan = s.connect('lan');
    lan.send(sub(1, '$iosig/home/lab'));
    const far = s.open(4);
    far.remoteAddress = '8.8.4.4';
    far.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'far', clean: true, keepalive: 0 } as Packet);
    far.send(pub('$iosig/home/lab', 'from afar'));
    s.connect('near').send(pub('$iosig/home/lab', 'from the lan'));
    assert.deepEqual(lan.of('publish').map((m) => [m.topic, m.payload.toString()]), [['$iosig/home/lab', 'from the lan']]);
  });

  it('malformed packets close the connection with 0x81 (5.0) and never throw: bad UTF-8 topic, bad Remaining Length', () => {
    const s = scene();
    const c = s.connect('c', 5);
    c.sendRaw([0x30, 0x05, 0x00, 0x02, 0xc3, 0x28, 0x00]);
    assert.equal(disconnectCode(c), RC.MALFORMED_PACKET);
    const d = s.connect('d', 4);
    d.sendRaw([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert.ok(d.closedByServer);
    // SUBSCRIBE and UNSUBSCRIBE without a filter [MQTT-3.8.3-3, MQTT-3.10.3-2] (found by the fuzz: mqtt-packet reads them)
    for (const type of [0x82, 0xa2]) {
      const empty = s.connect(`empty-${type}`, 5);
      empty.sendRaw([type, 0x03, 0x00, 0x01, 0x00]);
      assert.equal(disconnectCode(empty), RC.PROTOCOL_ERROR);
      const empty4 = s.connect(`empty4-${type}`, 4);
      empty4.sendRaw([type, 0x02, 0x00, 0x01]);
      assert.ok(empty4.closedByServer);
    }
    const e = s.connect('e', 5);
    e.sendRaw([0x30, 0x06, 0x00, 0x02, 0x61, 0x2b, 0x00, 0x00]);
    assert.equal(disconnectCode(e), RC.TOPIC_NAME_INVALID);
    assert.equal(s.hub.stats.internalErrors, 0);
  });

  it('an exception inside the broker closes that connection only (0x83), counted, nothing thrown', () => {
    const s = scene();
    const ok = s.connect('ok');
    ok.send(sub(1, 'fine'));
    const c = s.connect('c', 5);
    s.broker.publish = () => {
      throw new Error('boom');
    };
    assert.doesNotThrow(() => c.send(pub('t', 'x')));
    assert.equal(disconnectCode(c), RC.IMPLEMENTATION_SPECIFIC_ERROR);
    assert.equal(s.hub.stats.internalErrors, 1);
    assert.equal(ok.closedByServer, false);
  });

  it('an exception inside the broker during a will delay or a session expiry is counted, not thrown from the timer', () => {
    const s = scene();
    const will = { topic: 'w', payload: Buffer.from('x'), qos: 0, retain: false, properties: { willDelayInterval: 2 } };
    const v = s.connect('v', 5, { clean: false, properties: { sessionExpiryInterval: 5 }, will });
    v.send(sub(1, 't'));
    v.drop();
    const boom = (): never => {
      throw new Error('boom');
    };
    s.broker.publish = boom;
    s.broker.unsubscribe = boom;
    assert.doesNotThrow(() => s.clock.advance(10_000));
    assert.equal(s.hub.stats.internalErrors, 2);
  });

  it('shutting down sends 5.0 clients DISCONNECT 0x8B and closes everyone', () => {
    const s = scene();
    const a = s.connect('a', 5);
    const b = s.connect('b', 4);
    s.hub.close();
    assert.equal(disconnectCode(a), RC.SERVER_SHUTTING_DOWN);
    assert.ok(a.closedByServer && b.closedByServer);
    assert.equal(s.hub.gauges().connections, 0);
  });
});
