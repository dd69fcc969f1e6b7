// The MQTT ↔ iosig mapping of docs/mqtt.md, row by row.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  CONTENT_TYPE_MBA,
  CONTENT_TYPE_MJSON,
  channelKeyToRoutingTopic,
  clientTopic,
  mqttToSignal,
  publishTarget,
  routingTopicToChannel,
  signalToMqtt,
  subscribeTarget,
  unicastRoutingTopic,
} from '../../src/mqtt/channel-map.js';
import { PAYLOAD } from '../../src/protocol/codes.js';
import { channelKey } from '../../src/router/tags.js';

const me = { cid: 'M1', home: 'PRIVATE:' };

describe('MQTT topics and iosig channels', () => {
  it('an ordinary topic is the channel of the same name, both ways, whatever its characters', () => {
    for (const topic of ['sensor/temp', 'a,b', 'x@y', 'status$', 'home/$state', 'ü/🌡']) {
      assert.deepEqual(publishTarget(topic, me), { kind: 'channel', routingTopic: topic });
      const channel = routingTopicToChannel(topic);
      assert.equal(channel.kind, 'channel');
      if (channel.kind === 'channel' && !topic.includes('@')) {
        assert.equal(channel.key, channelKey(topic, me.home));
        assert.equal(channelKeyToRoutingTopic(channel.key), topic);
      }
    }
  });

  it('CID channels, unicasts and home channels live under $iosig/', () => {
    assert.deepEqual(publishTarget('$iosig/self/temp', me), { kind: 'channel', routingTopic: '$iosig/cid/M1/temp' });
    assert.deepEqual(publishTarget('$iosig/cid/M1/temp', me), { kind: 'channel', routingTopic: '$iosig/cid/M1/temp' });
    assert.deepEqual(publishTarget('$iosig/cid/D1/temp', me), { kind: 'refused', reason: 'not-own-cid' });
    assert.deepEqual(publishTarget('$iosig/to/D1/cmd/x', me), { kind: 'unicast', cid: 'D1', topic: 'cmd/x', routingTopic: '$iosig/to/D1/cmd/x' });
    assert.deepEqual(publishTarget('$iosig/home/lab', me), { kind: 'channel', routingTopic: '$iosig/home/PRIVATE:/lab' });
    for (const reserved of ['$SYS/broker/uptime', '$iosig/other/x', '$iosig/to', '$x']) assert.deepEqual(publishTarget(reserved, me), { kind: 'refused', reason: 'reserved' });
    // The iosig channel keys these name:
    assert.deepEqual(routingTopicToChannel('$iosig/cid/D1/temp'), { kind: 'channel', key: channelKey('D1@temp', ''), tag: 'D1@temp' });
    assert.deepEqual(routingTopicToChannel('$iosig/home/PRIVATE:/lab'), { kind: 'channel', key: channelKey('#lab', 'PRIVATE:'), tag: '#lab' });
    assert.deepEqual(routingTopicToChannel('$iosig/home/IP:08080404/lab'), { kind: 'channel', key: channelKey('#lab', 'IP:08080404'), tag: '#lab' });
    assert.deepEqual(routingTopicToChannel('$iosig/to/D1/cmd'), { kind: 'unicast', cid: 'D1', topic: 'cmd' });
    assert.deepEqual(routingTopicToChannel('$SYS/x'), { kind: 'none' });
    assert.equal(channelKeyToRoutingTopic('CID:D1@temp'), '$iosig/cid/D1/temp');
    assert.equal(channelKeyToRoutingTopic('CID:@temp'), '$iosig/cid//temp');
    assert.equal(channelKeyToRoutingTopic('PRIVATE:#lab'), '$iosig/home/PRIVATE:/lab');
    assert.equal(unicastRoutingTopic('D1', 'cmd'), '$iosig/to/D1/cmd');
  });

  it('channels MQTT cannot name have no routing topic', () => {
    for (const key of ['CH:', 'CH:a/+/b', 'CH:x#y', 'CH:$reserved', 'CID:a/b@t', 'CID:c@t+', 'CID:nohash', 'OTHER:x']) assert.equal(channelKeyToRoutingTopic(key), null, key);
    assert.equal(unicastRoutingTopic('a/b', 't'), null);
  });

  it('subscriptions: own home and inbox are rewritten and shown back the way they were asked for; others\' unicasts are refused', () => {
    const home = subscribeTarget('$iosig/home/#', me);
    assert.deepEqual(home, { kind: 'filter', routingFilter: '$iosig/home/PRIVATE:/#', view: 'home' });
    assert.equal(clientTopic('$iosig/home/PRIVATE:/lab/1', 'home', me), '$iosig/home/lab/1');
    const inbox = subscribeTarget('$iosig/inbox/+', me);
    assert.deepEqual(inbox, { kind: 'filter', routingFilter: '$iosig/to/M1/+', view: 'inbox' });
    assert.equal(clientTopic('$iosig/to/M1/cmd', 'inbox', me), '$iosig/inbox/cmd');
    assert.deepEqual(subscribeTarget('$iosig/self/#', me), { kind: 'filter', routingFilter: '$iosig/cid/M1/#', view: 'self' });
    assert.equal(clientTopic('$iosig/cid/M1/x', 'self', me), '$iosig/self/x');
    assert.deepEqual(subscribeTarget('$iosig/to/M1/#', me), { kind: 'filter', routingFilter: '$iosig/to/M1/#', view: 'as-is' });
    assert.deepEqual(subscribeTarget('$iosig/to/D1/#', me), { kind: 'refused', reason: 'not-own-cid' });
    assert.deepEqual(subscribeTarget('$iosig/to/+/#', me), { kind: 'refused', reason: 'not-own-cid' });
    assert.deepEqual(subscribeTarget('$iosig/#', me), { kind: 'refused', reason: 'reserved' });
    assert.deepEqual(subscribeTarget('$iosig/+/x', me), { kind: 'refused', reason: 'reserved' });
    assert.deepEqual(subscribeTarget('$iosig/cid/+/state', me), { kind: 'filter', routingFilter: '$iosig/cid/+/state', view: 'as-is' });
    assert.deepEqual(subscribeTarget('$SYS/#', me), { kind: 'filter', routingFilter: '$SYS/#', view: 'as-is' });
    assert.deepEqual(subscribeTarget('sensor/#', me), { kind: 'filter', routingFilter: 'sensor/#', view: 'as-is' });
  });

  it('round trip: every representable channel key comes back from its routing topic (property)', () => {
    const part = fc.stringMatching(/^[a-z0-9$@,/ .-]{0,12}$/);
    const cid = fc.stringMatching(/^[A-Za-z0-9?_-]{1,10}$/);
    fc.assert(
      fc.property(fc.oneof(part.map((t) => `CH:${t}`), fc.tuple(cid, part).map(([c, t]) => `CID:${c}@${t}`), part.map((t) => `PRIVATE:#${t}`)), (key) => {
        const topic = channelKeyToRoutingTopic(key);
        if (topic === null) return;
        const back = routingTopicToChannel(topic);
        assert.equal(back.kind, 'channel');
        if (back.kind === 'channel') assert.equal(back.key, key);
      }),
      { seed: 0x19, numRuns: 500 },
    );
  });
});

describe('payload types both ways', () => {
  it('iosig → MQTT: TEXT loses its NUL and says UTF-8; OBJECT, MJSON and MBA say what they are', () => {
    assert.deepEqual(signalToMqtt(PAYLOAD.TEXT, Buffer.from('21.5\0')), { payload: Buffer.from('21.5'), payloadFormatIndicator: true });
    assert.deepEqual(signalToMqtt(PAYLOAD.TEXT, Buffer.from([0xff, 0])), { payload: Buffer.from([0xff]) });
    assert.deepEqual(signalToMqtt(PAYLOAD.EMPTY, Buffer.alloc(0)), { payload: Buffer.alloc(0) });
    assert.deepEqual(signalToMqtt(PAYLOAD.BINARY, Buffer.from([1, 2])), { payload: Buffer.from([1, 2]) });
    assert.deepEqual(signalToMqtt(PAYLOAD.OBJECT, Buffer.from('{"a":1}')), { payload: Buffer.from('{"a":1}'), payloadFormatIndicator: true, contentType: 'application/json' });
    assert.equal(signalToMqtt(PAYLOAD.MJSON, Buffer.from('[1,2]')).contentType, CONTENT_TYPE_MJSON);
    assert.equal(signalToMqtt(PAYLOAD.MBA, Buffer.from([1])).contentType, CONTENT_TYPE_MBA);
  });

  it('MQTT → iosig: content type first, then the format indicator, then the bytes', () => {
    const t = (payload: string | Buffer, hints: { contentType?: string; payloadFormatIndicator?: boolean } = {}) => mqttToSignal({ payload: Buffer.from(payload), ...hints });
    assert.deepEqual(t('21.5'), { payloadType: PAYLOAD.TEXT, payload: Buffer.from('21.5\0') });
    assert.deepEqual(t('{"t":21.5}'), { payloadType: PAYLOAD.OBJECT, payload: Buffer.from('{"t":21.5}') });
    assert.equal(t('{not json').payloadType, PAYLOAD.TEXT);
    assert.equal(t('').payloadType, PAYLOAD.EMPTY);
    assert.equal(t(Buffer.from([0, 1, 2])).payloadType, PAYLOAD.BINARY);
    assert.equal(t('a\0b').payloadType, PAYLOAD.BINARY);
    assert.equal(t('"str"', { contentType: 'application/json' }).payloadType, PAYLOAD.TEXT);
    assert.equal(t('[1]', { contentType: 'application/ld+json; charset=utf-8' }).payloadType, PAYLOAD.OBJECT);
    assert.equal(t('{"a":1}', { payloadFormatIndicator: true }).payloadType, PAYLOAD.TEXT);
    assert.equal(t('{"a":1}', { contentType: 'application/octet-stream' }).payloadType, PAYLOAD.BINARY);
    assert.equal(t('[1,"x"]', { contentType: CONTENT_TYPE_MJSON }).payloadType, PAYLOAD.MJSON);
    assert.equal(t(Buffer.from([1, 2]), { contentType: CONTENT_TYPE_MBA }).payloadType, PAYLOAD.MBA);
  });

  it('iosig → MQTT → iosig keeps the type and bytes (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ minLength: 1 }).filter((s) => !s.includes('\0')).map((s) => [PAYLOAD.TEXT, Buffer.from(`${s}\0`)] as const),
          fc.dictionary(fc.string(), fc.integer()).map((o) => [PAYLOAD.OBJECT, Buffer.from(JSON.stringify(o))] as const),
          fc.array(fc.string(), { minLength: 2 }).map((a) => [PAYLOAD.MJSON, Buffer.from(JSON.stringify(a))] as const),
          fc.uint8Array({ minLength: 1 }).map((b) => [PAYLOAD.MBA, Buffer.from(b)] as const),
        ),
        ([type, payload]) => {
          const back = mqttToSignal(signalToMqtt(type, payload));
          assert.equal(back.payloadType, type);
          assert.deepEqual(back.payload, payload);
        },
      ),
      { seed: 0x19, numRuns: 300 },
    );
  });
});
