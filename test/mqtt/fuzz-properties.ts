// Seeded property tests (fast-check) of the MQTT decoder and session state machine over the in-memory pipe:
// random bytes and mutated packets never throw out of the engine, and random sessions of model clients keep the
// protocol's promises (every QoS 1/2 PUBLISH acknowledged exactly as the spec says, nothing in flight beyond the
// window, the queue bounds, QoS 2 delivered exactly once). The short run is in `npm test` (fuzz.test.ts); for the
// long run, `npm run fuzz` runs MQTT_FUZZ_PROPERTIES with 1 000 000 cases of their own (test/protocol/fuzz-run.ts).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { RC } from '../../src/mqtt/codes.js';
import { MqttDecoder, isFailure } from '../../src/mqtt/decoder.js';
import type { FuzzProperty } from '../protocol/fuzz-properties.js';
import { scene, type PipeClient, type Scene } from './support.js';

// ---- the decoder -----------------------------------------------------------------------------------------------

const decoderGarbage = fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 12 }), fc.constantFrom(3, 4, 5), (chunks, version) => {
  const d = new MqttDecoder(256);
  d.version = version;
  let failed = false;
  for (const chunk of chunks) {
    d.push(Buffer.from(chunk));
    for (let r = d.next(); r; r = d.next()) {
      assert.equal(failed, false, 'nothing after a failure');
      if (isFailure(r)) failed = true;
    }
  }
});

const packetArb: fc.Arbitrary<Packet> = fc.oneof(
  fc.record({ topic: fc.constantFrom('a', 'a/b', '$iosig/self/x', 't/ü'), payload: fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b)), qos: fc.constantFrom(0, 1, 2), messageId: fc.integer({ min: 1, max: 5 }), retain: fc.boolean(), dup: fc.boolean() }).map((p) => ({ cmd: 'publish', ...p }) as Packet),
  fc.record({ messageId: fc.integer({ min: 1, max: 5 }), topic: fc.constantFrom('#', 'a/+', '$share/g/a', 'a/#/b', '$iosig/inbox/#'), qos: fc.constantFrom(0, 1, 2) }).map(
    (s) => ({ cmd: 'subscribe', messageId: s.messageId, subscriptions: [{ topic: s.topic, qos: s.qos }] }) as Packet,
  ),
  fc.record({ messageId: fc.integer({ min: 1, max: 5 }), cmd: fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp') }).map((a) => a as Packet),
  fc.constant({ cmd: 'pingreq' } as Packet),
  fc.constant({ cmd: 'disconnect' } as Packet),
);

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
);

function mutate(bytes: Buffer, m: { kind: 'flip' | 'cut' | 'insert'; at: number; value?: number }): Buffer {
  const at = m.at % (bytes.length + 1);
  if (m.kind === 'cut') return bytes.subarray(0, at);
  if (m.kind === 'insert') return Buffer.concat([bytes.subarray(0, at), Buffer.from([m.value!]), bytes.subarray(at)]);
  const copy = Buffer.from(bytes);
  if (at < copy.length) copy[at] = m.value!;
  return copy;
}

/** Valid and mutated packets fed to a connected engine: never an exception, never an internal error. */
const engineMutations = fc.property(fc.constantFrom(4, 5) as fc.Arbitrary<4 | 5>, fc.array(fc.tuple(packetArb, fc.option(mutation, { nil: undefined })), { maxLength: 12 }), (version, steps) => {
  const s = scene({ maxPacketSize: 512 });
  const c = s.connect('fz', version);
  const peer = s.connect('peer', 5);
  peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '#', qos: 2 }] } as Packet);
  for (const [packet, m] of steps) {
    let bytes: Buffer;
    try {
      bytes = mqttPacket.generate(packet, { protocolVersion: version });
    } catch {
      continue;
    }
    c.conn.feed(m ? mutate(bytes, m) : bytes);
    s.clock.advance(100);
  }
  c.drop();
  assert.equal(s.hub.stats.internalErrors, 0, s.logs.join('\n'));
  assert.deepEqual([...c.parseErrors, ...peer.parseErrors], []);
});

// ---- sessions of model clients ---------------------------------------------------------------------------------

/** What the session property actually checked, summed over its runs (fuzz.test.ts asserts it is not vacuous). */
export const sessionCoverage = { runs: 0, exactlyOnce: 0, acksChecked: 0, resumed: 0, inflightPeak: 0 };

export type Step =
  | { k: 'connect'; c: number; v: 4 | 5; clean: boolean; expiry: number; recvMax: number; aliases: number; will: boolean }
  | { k: 'subscribe'; c: number; filter: string; qos: 0 | 1 | 2; nl: boolean; rh: 0 | 1 | 2 }
  | { k: 'unsubscribe'; c: number; filter: string }
  | { k: 'publish'; c: number; topic: string; qos: 0 | 1 | 2; retain: boolean; resend: boolean; expiry: boolean }
  | { k: 'ack'; c: number; n: number }
  | { k: 'release'; c: number }
  | { k: 'drop'; c: number }
  | { k: 'disconnect'; c: number; withWill: boolean }
  | { k: 'tick'; ms: number }
  | { k: 'garbage'; c: number; bytes: Uint8Array }
  | { k: 'ping'; c: number };

const client = fc.nat(2);
const filters = ['#', 'a/#', 'a/+', 'a/b', '$share/g/a/+', '$share/h/#', '$iosig/self/#', '+/b'];
const topics = ['a/b', 'a/c', 'b/b', 'a', '$iosig/self/x'];
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ k: fc.constant('connect' as const), c: client, v: fc.constantFrom(4, 5) as fc.Arbitrary<4 | 5>, clean: fc.boolean(), expiry: fc.constantFrom(0, 30), recvMax: fc.integer({ min: 1, max: 4 }), aliases: fc.constantFrom(0, 2), will: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('subscribe' as const), c: client, filter: fc.constantFrom(...filters), qos: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>, nl: fc.boolean(), rh: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2> }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('unsubscribe' as const), c: client, filter: fc.constantFrom(...filters) }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('publish' as const), c: client, topic: fc.constantFrom(...topics), qos: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>, retain: fc.boolean(), resend: fc.boolean(), expiry: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('ack' as const), c: client, n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('release' as const), c: client }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('drop' as const), c: client }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('disconnect' as const), c: client, withWill: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tick' as const), ms: fc.constantFrom(500, 5000, 40_000) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('garbage' as const), c: client, bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('ping' as const), c: client }) },
);

interface Model {
  pipe: PipeClient | null;
  version: 4 | 5;
  recvMax: number;
  nextId: number;
  /** Server PUBLISHes (QoS > 0) not yet acknowledged by this model client: id → stage and QoS. */
  unacked: Map<number, { stage: 'publish' | 'pubrel'; qos: number }>;
  /** Own QoS 2 ids with PUBREC received, PUBREL not yet sent. */
  unreleased: number[];
  /** Own QoS 1/2 publishes sent and the acknowledgements expected, per connection (checked when it stays clean). */
  sentQos1: Map<number, number>;
  sentQos2: Map<number, number>;
  released: Map<number, number>;
  /** Garbage was sent or the server closed it: acknowledgement counts are not checked. */
  tainted: boolean;
  seq: number;
  last: { id: number; payload: string; qos: 1 | 2 } | null;
}

function newModel(): Model {
  return { pipe: null, version: 4, recvMax: 65_535, nextId: 1, unacked: new Map(), unreleased: [], sentQos1: new Map(), sentQos2: new Map(), released: new Map(), tainted: false, seq: 0, last: null };
}

/** Server → client PUBLISHes seen since the last look, checked against the window and packet identifier rules. */
function absorb(m: Model, seenUpTo: Map<PipeClient, number>, window: number): void {
  const pipe = m.pipe!;
  const from = seenUpTo.get(pipe) ?? 0;
  for (const p of pipe.received.slice(from)) {
    if (p.cmd === 'publish' && p.qos > 0) {
      const id = p.messageId!;
      assert.ok(id > 0, 'packet identifier 0 from the server');
      if (!p.dup) assert.ok(!m.unacked.has(id), `identifier ${id} reused while in flight`);
      m.unacked.set(id, { stage: 'publish', qos: p.qos });
      assert.ok(m.unacked.size <= window, `in flight ${m.unacked.size} > window ${window}`);
    }
    if (p.cmd === 'pubrel') m.unacked.set(p.messageId!, { stage: 'pubrel', qos: 2 });
    if (p.cmd === 'pubrec' && (p.reasonCode ?? 0) < 0x80) m.unreleased.push(p.messageId!);
  }
  seenUpTo.set(pipe, pipe.received.length);
}

function countAcks(pipe: PipeClient, cmd: 'puback' | 'pubrec' | 'pubcomp'): Map<number, number> {
  const counts = new Map<number, number>();
  for (const p of pipe.of(cmd)) counts.set(p.messageId!, (counts.get(p.messageId!) ?? 0) + 1);
  return counts;
}

function checkAcks(m: Model): void {
  if (!m.pipe || m.tainted || m.pipe.closedByServer) return;
  sessionCoverage.acksChecked += m.sentQos1.size + m.sentQos2.size;
  assert.deepEqual(countAcks(m.pipe, 'puback'), m.sentQos1, 'one PUBACK per QoS 1 PUBLISH');
  assert.deepEqual(countAcks(m.pipe, 'pubrec'), m.sentQos2, 'one PUBREC per QoS 2 PUBLISH');
  assert.deepEqual(countAcks(m.pipe, 'pubcomp'), m.released, 'one PUBCOMP per PUBREL');
}

export function runSession(steps: Step[]): void {
  const limits = { maxQueuedMessages: 5, maxQueuedBytes: 200, maxInflightOut: 3, maxSessionExpiry: 60 };
  const s: Scene = scene(limits);
  const models = [newModel(), newModel(), newModel()];
  const seen = new Map<PipeClient, number>();
  // The observer: always connected, QoS 2 on everything, acknowledges after every step.
  const observer = s.connect('observer', 5, { properties: { receiveMaximum: 65_535 } });
  observer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '#', qos: 2 }] } as Packet);
  let observerSeen = 0;
  /** payload → [qos, times it must arrive: QoS 1 once per accepted send, QoS 2 once]. */
  /** Messages the observer must get: QoS 1 and 2 exactly once (nobody resends QoS 1 here), QoS 0 at most once. */
  const expected = new Map<string, { qos: number }>();

  const window = (m: Model): number => Math.min(m.version === 5 ? m.recvMax : 65_535, limits.maxInflightOut);
  const ackObserver = (): void => {
    // Acknowledging can make the server send more (PUBREL, the next queued message): read until nothing is new.
    while (observerSeen < observer.received.length) {
      const p = observer.received[observerSeen++]!;
      if (p.cmd === 'publish' && p.qos === 1) observer.send({ cmd: 'puback', messageId: p.messageId! } as Packet);
      if (p.cmd === 'publish' && p.qos === 2) observer.send({ cmd: 'pubrec', messageId: p.messageId! } as Packet);
      if (p.cmd === 'pubrel') observer.send({ cmd: 'pubcomp', messageId: p.messageId! } as Packet);
    }
  };

  for (const step of steps) {
    const m = 'c' in step ? models[step.c]! : null;
    const pipe = m?.pipe ?? null;
    switch (step.k) {
      case 'connect': {
        if (pipe) {
          checkAcks(m!);
          pipe.drop();
        }
        const props = step.v === 5 ? { properties: { sessionExpiryInterval: step.expiry, receiveMaximum: step.recvMax, topicAliasMaximum: step.aliases } } : {};
        const will = step.will ? { will: { topic: 'will/x', payload: Buffer.from(`w:${step.c}`), qos: 1, retain: false } } : {};
        const fresh = newModel();
        fresh.seq = m!.seq;
        // Packet identifiers are never reused within a run: a resumed session still holds unreleased QoS 2 ones.
        fresh.nextId = m!.nextId;
        fresh.version = step.v;
        fresh.recvMax = step.v === 5 ? step.recvMax : 65_535;
        fresh.pipe = s.connect(`c${step.c}`, step.v, { clean: step.clean, ...props, ...will });
        if (fresh.pipe.of('connack')[0]?.sessionPresent) sessionCoverage.resumed++;
        // A resumed session resends its in-flight messages with their identifiers: the model starts empty.
        models[step.c] = fresh;
        break;
      }
      case 'subscribe':
        if (pipe && !pipe.closedByServer) {
          const v5 = m!.version === 5;
          const shared = step.filter.startsWith('$share/');
          pipe.send({ cmd: 'subscribe', messageId: m!.nextId++ % 65_535 || 1, subscriptions: [{ topic: step.filter, qos: step.qos, ...(v5 && { nl: step.nl && !shared, rap: false, rh: step.rh }) }] } as Packet);
        }
        break;
      case 'unsubscribe':
        if (pipe && !pipe.closedByServer) pipe.send({ cmd: 'unsubscribe', messageId: m!.nextId++ % 65_535 || 1, unsubscriptions: [step.filter] } as Packet);
        break;
      case 'publish': {
        if (!pipe || pipe.closedByServer) break;
        const mm = m!;
        if (step.resend && mm.last) {
          // The same message again with DUP (as after a reconnect): QoS 1 counts again, QoS 2 must not.
          const { id, payload, qos } = mm.last;
          if (qos === 2 && (mm.sentQos2.get(id) ?? 0) > 0 && (mm.released.get(id) ?? 0) === 0) {
            pipe.send({ cmd: 'publish', topic: 'a/b', payload: Buffer.from(payload), qos, messageId: id, dup: true, retain: false } as Packet);
            mm.sentQos2.set(id, (mm.sentQos2.get(id) ?? 0) + 1);
          }
          break;
        }
        const payload = `m:${step.c}:${++mm.seq}:${s.clock.now()}`;
        const id = step.qos > 0 ? (mm.nextId++ % 65_535 || 1) : 0;
        if (step.qos === 2 && (mm.sentQos2.has(id) || mm.unreleased.includes(id))) break;
        const props = mm.version === 5 && step.expiry ? { properties: { messageExpiryInterval: 1 } } : {};
        pipe.send({ cmd: 'publish', topic: step.topic, payload: Buffer.from(payload), qos: step.qos, messageId: id || undefined, retain: step.retain, dup: false, ...props } as Packet);
        if (step.qos === 1) mm.sentQos1.set(id, (mm.sentQos1.get(id) ?? 0) + 1);
        if (step.qos === 2) {
          mm.sentQos2.set(id, 1);
          mm.last = { id, payload, qos: 2 };
        }
        if (!step.topic.startsWith('$') && !step.expiry && !mm.tainted) expected.set(payload, { qos: step.qos });
        break;
      }
      case 'ack': {
        if (!pipe || pipe.closedByServer) break;
        absorb(m!, seen, window(m!));
        let n = step.n;
        for (const [id, { stage, qos }] of [...m!.unacked]) {
          if (n-- <= 0) break;
          if (stage === 'pubrel') pipe.send({ cmd: 'pubcomp', messageId: id } as Packet);
          else if (qos === 2) pipe.send({ cmd: 'pubrec', messageId: id } as Packet);
          else pipe.send({ cmd: 'puback', messageId: id } as Packet);
          if (stage === 'pubrel' || qos === 1) m!.unacked.delete(id);
        }
        absorb(m!, seen, window(m!));
        break;
      }
      case 'release': {
        if (!pipe || pipe.closedByServer) break;
        absorb(m!, seen, window(m!));
        const id = m!.unreleased.shift();
        if (id !== undefined) {
          pipe.send({ cmd: 'pubrel', messageId: id } as Packet);
          m!.released.set(id, (m!.released.get(id) ?? 0) + 1);
        }
        break;
      }
      case 'drop':
        if (pipe) {
          checkAcks(m!);
          pipe.drop();
          m!.pipe = null;
        }
        break;
      case 'disconnect':
        if (pipe && !pipe.closedByServer) {
          checkAcks(m!);
          pipe.send({ cmd: 'disconnect', ...(m!.version === 5 && { reasonCode: step.withWill ? RC.DISCONNECT_WITH_WILL : 0 }) } as Packet);
          pipe.drop(); // a client closes its socket after DISCONNECT (a no-op when the server closed it already)
          m!.pipe = null;
        }
        break;
      case 'tick':
        s.clock.advance(step.ms);
        break;
      case 'garbage':
        if (pipe) {
          m!.tainted = true;
          pipe.sendRaw(Buffer.from(step.bytes));
        }
        break;
      case 'ping':
        if (pipe && !pipe.closedByServer) pipe.send({ cmd: 'pingreq' });
        break;
    }
    if (m?.pipe) absorb(m, seen, window(m));
    ackObserver();
    // Invariants that hold after every step.
    const g = s.hub.gauges();
    assert.ok(s.hub.limits.maxQueuedBytesTotal >= g.queuedBytes);
    for (const id of ['c0', 'c1', 'c2', 'observer']) {
      const session = s.hub.session(id);
      if (!session) continue;
      assert.ok(session.queued <= limits.maxQueuedMessages, 'queue bound');
      assert.ok(session.inflight.size <= limits.maxInflightOut, 'in-flight bound');
      sessionCoverage.inflightPeak = Math.max(sessionCoverage.inflightPeak, session.inflight.size);
    }
  }
  for (const m of models) checkAcks(m);
  ackObserver();
  assert.equal(s.hub.stats.internalErrors, 0, s.logs.join('\n'));
  for (const pipe of [observer, ...models.map((m) => m.pipe)]) if (pipe) assert.deepEqual(pipe.parseErrors, []);
  // What the observer got: QoS 2 exactly once, QoS 1 at least once (once per send here), QoS 0 at most once.
  const got = new Map<string, number>();
  for (const p of observer.of('publish') as IPublishPacket[]) {
    if (p.dup) continue;
    const text = Buffer.from(p.payload).toString();
    got.set(text, (got.get(text) ?? 0) + 1);
  }
  for (const [payload, e] of expected) {
    const n = got.get(payload) ?? 0;
    if (e.qos === 0) assert.ok(n <= 1, `QoS 0 message ${payload} delivered ${n} times`);
    else {
      assert.equal(n, 1, `QoS ${e.qos} message ${payload} delivered ${n} times`);
      sessionCoverage.exactlyOnce++;
    }
  }
  sessionCoverage.runs++;
  assert.equal(s.hub.session('observer')!.inflight.size, 0, 'the observer acknowledged everything');
  const open = [observer, ...models.map((m) => m.pipe)].filter((p) => p && !p.closedByServer).length;
  assert.equal(s.hub.gauges().connections, open, 'the hub holds exactly the open connections');
}

/** Every run starts with the three clients connected and subscribed, then goes its own way. */
const opening = fc.tuple(client, client, client).chain(() =>
  fc.tuple(
    ...[0, 1, 2].map((c) =>
      fc.tuple(
        fc.record({ k: fc.constant('connect' as const), c: fc.constant(c), v: fc.constantFrom(4, 5) as fc.Arbitrary<4 | 5>, clean: fc.boolean(), expiry: fc.constantFrom(0, 30), recvMax: fc.integer({ min: 1, max: 4 }), aliases: fc.constantFrom(0, 2), will: fc.boolean() }),
        fc.record({ k: fc.constant('subscribe' as const), c: fc.constant(c), filter: fc.constantFrom(...filters), qos: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>, nl: fc.boolean(), rh: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2> }),
      ),
    ),
  ),
);
const sessions = fc.property(opening, fc.array(stepArb, { minLength: 5, maxLength: 40 }), (first, steps) => runSession([...first.flat(), ...steps] as Step[]));

export const MQTT_FUZZ_PROPERTIES: FuzzProperty[] = [
  { name: 'mqtt-decoder-garbage', weight: 0.35, shortRuns: 1500, property: () => decoderGarbage as never },
  { name: 'mqtt-engine-mutations', weight: 0.35, shortRuns: 500, property: () => engineMutations as never },
  { name: 'mqtt-session-model', weight: 0.3, shortRuns: 300, property: () => sessions as never },
];
