// The per-delivery read check of MQTT subscriptions (src/mqtt/read-check.ts): who is checked, when, and that one
// message asks what its topic names once for all its subscribers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MqttReadCheck } from '../../src/mqtt/read-check.js';
import type { MqttSubscriber } from '../../src/mqtt/port.js';

const subscriber = (clientId: string): MqttSubscriber => ({ clientId, ready: true, deliver: () => undefined });

function scene(readable: (channel: string) => boolean): { reads: MqttReadCheck; asked: string[]; mapped: string[] } {
  const asked: string[] = [];
  const mapped: string[] = [];
  const reads = new MqttReadCheck(
    (topic) => {
      mapped.push(topic);
      return `CH:${topic}`;
    },
    (s, channel) => {
      asked.push(`${s.clientId} ${channel}`);
      return readable(channel);
    },
  );
  return { reads, asked, mapped };
}

describe('MQTT read check', () => {
  it('checks only subscribers holding a partly readable filter, and only while they hold one', () => {
    const { reads, asked } = scene((channel) => channel !== 'CH:secret/x');
    const a = subscriber('a');
    const b = subscriber('b');
    reads.granted(a, '#', 'some');
    reads.granted(b, 'open/#', 'all');
    assert.equal(reads.mayReceive(a, 'secret/x'), false);
    assert.equal(reads.mayReceive(a, 'open/x'), true);
    assert.equal(reads.mayReceive(b, 'open/x'), true);
    assert.deepEqual(asked, ['a CH:secret/x', 'a CH:open/x'], 'b (wholly readable) is never asked about');
    reads.dropped(a, '#');
    assert.equal(reads.mayReceive(a, 'secret/x'), true, 'its partly readable filter is gone: nothing to check');
    assert.equal(asked.length, 2);
  });

  it('a rule change checks every delivery while subscriptions of the old rules exist', () => {
    const { reads, asked } = scene(() => false);
    const b = subscriber('b');
    reads.rulesChanged(0);
    assert.equal(reads.mayReceive(b, 'open/x'), true, 'no subscription held a verdict: nothing is stale');
    reads.rulesChanged(1);
    assert.equal(reads.mayReceive(b, 'open/x'), false);
    reads.noneLeft();
    assert.equal(reads.mayReceive(b, 'open/x'), true);
    assert.deepEqual(asked, ['b CH:open/x']);
  });

  it('maps a topic once for the many subscribers of one message', () => {
    const { reads, mapped } = scene(() => true);
    const subscribers = ['a', 'b', 'c'].map(subscriber);
    for (const s of subscribers) reads.granted(s, '#', 'some');
    for (const s of subscribers) reads.mayReceive(s, 'open/x');
    reads.mayReceive(subscribers[0]!, 'open/y');
    assert.deepEqual(mapped, ['open/x', 'open/y']);
  });
});
