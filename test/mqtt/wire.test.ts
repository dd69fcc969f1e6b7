// The outbound PUBLISH encoder and the decoder's own checks, against mqtt-packet.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { RC } from '../../src/mqtt/codes.js';
import { MqttDecoder, isFailure } from '../../src/mqtt/decoder.js';
import { readHotPacket } from '../../src/mqtt/hot-packets.js';
import { inspectPacket } from '../../src/mqtt/inspect.js';
import { encodePublish, publishSize, withPacketId } from '../../src/mqtt/publish-encoder.js';

function parse(bytes: Buffer, version: number): Packet[] {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const out: Packet[] = [];
  parser.on('packet', (p: Packet) => out.push(p));
  parser.on('error', (e: Error) => assert.fail(e.message));
  parser.parse(bytes);
  return out;
}

const text = fc.string({ maxLength: 20 }).filter((s) => !s.includes('\0'));

describe('PUBLISH encoder', () => {
  it('writes what mqtt-packet reads back, in 3.1.1 and 5, with every property (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          topic: text.filter((t) => t.length > 0),
          qos: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>,
          retain: fc.boolean(),
          dup: fc.boolean(),
          packetId: fc.integer({ min: 1, max: 65_535 }),
          payload: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
        }),
        fc.record(
          {
            payloadFormatIndicator: fc.boolean(),
            messageExpiryInterval: fc.nat(),
            topicAlias: fc.integer({ min: 1, max: 65_535 }),
            responseTopic: text,
            correlationData: fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b)),
            userProperties: fc.array(fc.tuple(text, text), { maxLength: 4 }),
            subscriptionIdentifiers: fc.array(fc.integer({ min: 1, max: 268_435_455 }), { minLength: 1, maxLength: 3 }),
            contentType: text,
          },
          { requiredKeys: [] },
        ),
        fc.boolean(),
        (fields, props, v5) => {
          const encoded = encodePublish(fields, v5 ? props : null);
          assert.equal(encoded.bytes.length, publishSize(fields, v5 ? props : null));
          const [p] = parse(encoded.bytes, v5 ? 5 : 4) as IPublishPacket[];
          assert.equal(p!.topic, fields.topic);
          assert.equal(p!.qos, fields.qos);
          assert.equal(p!.retain, fields.retain);
          assert.equal(p!.dup, fields.dup);
          assert.deepEqual(Buffer.from(p!.payload), fields.payload);
          if (fields.qos > 0) assert.equal(p!.messageId, fields.packetId);
          if (v5) {
            const got = p!.properties ?? {};
            if (props.payloadFormatIndicator !== undefined) assert.equal(got.payloadFormatIndicator, props.payloadFormatIndicator);
            if (props.messageExpiryInterval !== undefined) assert.equal(got.messageExpiryInterval, props.messageExpiryInterval);
            if (props.topicAlias !== undefined) assert.equal(got.topicAlias, props.topicAlias);
            if (props.responseTopic !== undefined) assert.equal(got.responseTopic, props.responseTopic);
            if (props.contentType !== undefined) assert.equal(got.contentType, props.contentType);
            if (props.correlationData !== undefined) assert.deepEqual(Buffer.from(got.correlationData!), props.correlationData);
            if (props.subscriptionIdentifiers) assert.deepEqual([got.subscriptionIdentifier].flat(), props.subscriptionIdentifiers);
          }
          if (fields.qos > 0) {
            const copy = withPacketId(encoded, 4242, true);
            const [q] = parse(copy, v5 ? 5 : 4) as IPublishPacket[];
            assert.deepEqual([q!.messageId, q!.dup], [4242, true]);
            const again = withPacketId({ bytes: copy, packetIdOffset: encoded.packetIdOffset }, 7, false);
            const [r] = parse(again, v5 ? 5 : 4) as IPublishPacket[];
            assert.deepEqual([r!.messageId, r!.dup], [7, false]);
          }
        },
      ),
      { seed: 0x19, numRuns: 400 },
    );
  });
});

describe('decoder', () => {
  it('cuts packets out of any chunking, and refuses a packet over the limit from its header alone', () => {
    const ping = Buffer.from([0xc0, 0x00]);
    const big = mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(500), qos: 0, retain: false, dup: false } as Packet);
    const d = new MqttDecoder(1000);
    const stream = Buffer.concat([ping, big, ping]);
    const got: string[] = [];
    for (const byte of stream) {
      d.push(Buffer.from([byte]));
      for (let r = d.next(); r; r = d.next()) got.push(isFailure(r) ? 'fail' : r.packet.cmd);
    }
    assert.deepEqual(got, ['pingreq', 'publish', 'pingreq']);
    const small = new MqttDecoder(100);
    small.push(big.subarray(0, 4));
    const r = small.next();
    assert.ok(r && isFailure(r) && r.code === RC.PACKET_TOO_LARGE);
  });

  it('refuses duplicate properties, properties of other packets and out-of-range values (5.0)', () => {
    const cases: Array<[number[], number]> = [
      // PUBLISH "t" with Payload Format Indicator twice
      [[0x30, 0x08, 0x00, 0x01, 0x74, 0x04, 0x01, 0x01, 0x01, 0x01], RC.PROTOCOL_ERROR],
      // PUBLISH with a Subscription Identifier (server to client only)
      [[0x30, 0x06, 0x00, 0x01, 0x74, 0x02, 0x0b, 0x01], RC.PROTOCOL_ERROR],
      // PUBLISH with Payload Format Indicator 2
      [[0x30, 0x06, 0x00, 0x01, 0x74, 0x02, 0x01, 0x02], RC.PROTOCOL_ERROR],
      // PUBLISH with a User Property value that is not UTF-8
      [[0x30, 0x0b, 0x00, 0x01, 0x74, 0x07, 0x26, 0x00, 0x01, 0x61, 0x00, 0x01, 0xff], RC.MALFORMED_PACKET],
    ];
    for (const [bytes, code] of cases) {
      const d = new MqttDecoder(1000);
      d.version = 5;
      // the parser learns the version from a CONNECT first
      d.push(mqttPacket.generate({ cmd: 'connect', protocolVersion: 5, protocolId: 'MQTT', clientId: 'x', clean: true, keepalive: 0 } as Packet, { protocolVersion: 5 }));
      assert.ok(!isFailure(d.next()!));
      d.push(Buffer.from(bytes));
      const r = d.next();
      assert.ok(r && isFailure(r), Buffer.from(bytes).toString('hex'));
      assert.equal(r.code, code, Buffer.from(bytes).toString('hex'));
    }
  });
});

/** Where the variable header of a whole packet starts (after the Remaining Length). */
function bodyStartOf(raw: Buffer): number {
  let i = 1;
  while (raw[i]! & 0x80) i++;
  return i + 1;
}

/** What mqtt-packet and inspect.ts make of one whole packet: the packet, or null when either refuses it. */
function reference(raw: Buffer, version: number): Packet | null {
  const parser = mqttPacket.parser({ protocolVersion: version });
  let packet: Packet | null = null;
  let failed = false;
  parser.on('packet', (p: Packet) => (packet = p));
  parser.on('error', () => (failed = true));
  let left = 0;
  try {
    left = parser.parse(raw);
  } catch {
    failed = true;
  }
  const got = packet as Packet | null;
  if (failed || got === null || left !== 0) return null;
  return inspectPacket(raw, bodyStartOf(raw), got.cmd, version).code === 0 ? got : null;
}

describe('hot packets (PUBLISH, 2-byte acknowledgements and PINGREQ read without mqtt-packet)', () => {
  it('read exactly what mqtt-packet and inspect.ts read, and leave every packet they refuse to them (property)', () => {
    let hot = 0;
    let runs = 0;
    const version = fc.constantFrom(3, 4, 5);
    const publish = fc.record({
      cmd: fc.constant('publish'),
      topic: fc.oneof(fc.string({ maxLength: 12 }), fc.string({ maxLength: 6, unit: 'grapheme' }), fc.constantFrom('a\0b', '\0', 'a/+', 's/#', 'é/ü')),
      qos: fc.constantFrom(0, 1, 2),
      retain: fc.boolean(),
      dup: fc.boolean(),
      messageId: fc.integer({ min: 1, max: 65_535 }),
      payload: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
      properties: fc.option(fc.record({ contentType: fc.string({ maxLength: 4 }) }), { nil: undefined }),
    });
    const ack = fc.record({
      cmd: fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp'),
      messageId: fc.integer({ min: 0, max: 65_535 }),
      reasonCode: fc.option(fc.constantFrom(0, 0x10, 0x80, 0x92), { nil: undefined }),
    });
    const ping = fc.constant({ cmd: 'pingreq' });
    // Damage: a byte of the packet replaced (the Remaining Length stays as generated).
    const damage = fc.option(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { nil: undefined, freq: 3 });
    fc.assert(
      fc.property(version, fc.oneof(publish, ack, ping), damage, (v, fields, hurt) => {
        let raw: Buffer;
        try {
          raw = Buffer.from(mqttPacket.generate(fields as Packet, { protocolVersion: v }));
        } catch {
          return; // a combination mqtt-packet will not write
        }
        const start = bodyStartOf(raw);
        if (hurt) {
          const at = hurt.at % raw.length;
          if (at === 0 || at >= start) raw[at] = hurt.byte;
        }
        runs++;
        const fast = readHotPacket(raw, start, v);
        if (fast === null) return;
        hot++;
        const ref = reference(raw, v);
        assert.ok(ref !== null, `read a packet mqtt-packet or inspect refuses: ${raw.toString('hex')} (version ${v})`);
        assert.deepEqual({ ...fast }, { ...ref }, raw.toString('hex'));
      }),
      { numRuns: 3000 },
    );
    assert.ok(hot > runs / 4, `the hot path read ${hot} of ${runs} packets`);
  });
});
