// The outbound PUBLISH encoder and the decoder's own checks, against mqtt-packet.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { RC } from '../../src/mqtt/codes.js';
import { MqttDecoder, isFailure } from '../../src/mqtt/decoder.js';
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
