// The subscription index against the reference matcher (topicMatches), and the spec's examples for both.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TopicIndex } from '../../src/mqtt/topic-index.js';
import { isValidTopicFilter, isValidTopicName, parseSharedFilter, topicMatches } from '../../src/mqtt/topic.js';

function matches(index: TopicIndex<string, number>, topic: string): string[] {
  const out: string[] = [];
  index.match(topic, (s, d, g) => out.push(g ? `${g.name}:${s}:${d}` : `${s}:${d}`));
  return out.sort();
}

// Small alphabets so that random filters and topics collide often.
const level = fc.constantFrom('a', 'b', 'c', '', '$x', 'a b');
const topicArb = fc.array(level, { minLength: 1, maxLength: 5 }).map((levels) => levels.join('/'));
const filterArb = fc
  .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 1, maxLength: 5 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'));

describe('topic names and filters (MQTT §4.7)', () => {
  it('follows the spec examples', () => {
    assert.ok(topicMatches('sport/tennis/player1/#', 'sport/tennis/player1'));
    assert.ok(topicMatches('sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon'));
    assert.ok(topicMatches('sport/#', 'sport'));
    assert.ok(topicMatches('sport/+', 'sport/'));
    assert.ok(!topicMatches('sport/+', 'sport'));
    assert.ok(topicMatches('+/+', '/finance'));
    assert.ok(topicMatches('/+', '/finance'));
    assert.ok(!topicMatches('+', '/finance'));
    assert.ok(!topicMatches('#', '$SYS/broker'));
    assert.ok(!topicMatches('+/monitor/Clients', '$SYS/monitor/Clients'));
    assert.ok(topicMatches('$SYS/#', '$SYS/monitor/Clients'));
    assert.ok(topicMatches('$SYS/monitor/+', '$SYS/monitor/Clients'));
    for (const bad of ['sport/tennis#', 'sport/tennis/#/ranking', 'sport+', '', 'a/\0']) assert.equal(isValidTopicFilter(bad), false, bad);
    for (const good of ['#', '+', '+/tennis/#', 'sport/+/player1', '/', 'a//b']) assert.ok(isValidTopicFilter(good), good);
    assert.ok(!isValidTopicName('a/+') && !isValidTopicName('') && isValidTopicName('/'));
    assert.deepEqual(parseSharedFilter('$share/g/a/#'), { group: 'g', filter: 'a/#' });
    assert.equal(parseSharedFilter('$share//a'), 'invalid');
    assert.equal(parseSharedFilter('$share/g'), 'invalid');
    assert.equal(parseSharedFilter('$share/g+/a'), 'invalid');
    assert.equal(parseSharedFilter('a/b'), null);
  });
});

describe('TopicIndex', () => {
  it('adds, replaces, removes and prunes', () => {
    const index = new TopicIndex<string, number>();
    assert.equal(index.add('a/+/c', 's1', 1), true);
    assert.equal(index.add('a/+/c', 's1', 2), false);
    index.add('a/b/c', 's2', 3);
    index.add('#', 's3', 4);
    assert.deepEqual(matches(index, 'a/b/c'), ['s1:2', 's2:3', 's3:4']);
    assert.equal(index.size, 3);
    assert.equal(index.wildcardSize, 2);
    assert.ok(index.remove('a/+/c', 's1'));
    assert.ok(!index.remove('a/+/c', 's1'));
    assert.ok(index.remove('#', 's3'));
    assert.deepEqual(matches(index, 'a/b/c'), ['s2:3']);
    assert.equal(index.wildcardSize, 0);
    assert.equal(index.get('a/b/c', 's2'), 3);
    // A filter's one subscriber is kept without a map until a second one comes.
    assert.equal(index.add('x', 'p', 1), true);
    assert.equal(index.add('x', 'p', 5), false);
    assert.equal(index.get('x', 'p'), 5);
    assert.equal(index.get('x', 'q'), undefined);
    assert.equal(index.add('x', 'q', 6), true);
    assert.deepEqual([index.get('x', 'p'), index.get('x', 'q')], [5, 6]);
    assert.deepEqual(matches(index, 'x'), ['p:5', 'q:6']);
    assert.ok(index.remove('x', 'p'));
    assert.deepEqual(matches(index, 'x'), ['q:6']);
    assert.ok(!index.remove('x', 'p'));
  });

  it('shared groups choose one member per message, round robin, preferring ready members', () => {
    const busy = new Set<string>();
    const index = new TopicIndex<string, number>({ ready: (s) => !busy.has(s) });
    for (const m of ['m1', 'm2', 'm3']) index.add('jobs/+', m, 0, 'g');
    index.add('jobs/+', 'other', 0, 'h');
    const picks = (): string[] => Array.from({ length: 6 }, () => matches(index, 'jobs/1').find((x) => x.startsWith('g:'))!);
    assert.deepEqual(picks(), ['g:m1:0', 'g:m2:0', 'g:m3:0', 'g:m1:0', 'g:m2:0', 'g:m3:0']);
    busy.add('m2');
    assert.deepEqual(picks().slice(0, 4), ['g:m1:0', 'g:m3:0', 'g:m1:0', 'g:m3:0']);
    index.remove('jobs/+', 'm1', 'g');
    index.remove('jobs/+', 'm3', 'g');
    assert.deepEqual(matches(index, 'jobs/1'), ['g:m2:0', 'h:other:0']);
    index.remove('jobs/+', 'm2', 'g');
    assert.deepEqual(matches(index, 'jobs/1'), ['h:other:0']);
  });

  it('matches exactly what the reference matcher matches (property, random filters and topics)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(filterArb, fc.nat(3)), { maxLength: 30 }), fc.array(fc.nat(29), { maxLength: 10 }), fc.array(topicArb, { minLength: 1, maxLength: 10 }), (subs, removals, topics) => {
        const index = new TopicIndex<string, number>();
        const naive = new Map<string, number>();
        for (const [filter, who] of subs) {
          const key = `${who}|${filter}`;
          index.add(filter, `s${who}`, who);
          naive.set(key, who);
        }
        for (const r of removals) {
          const pair = subs[r];
          if (!pair) continue;
          const removed = index.remove(pair[1] >= 0 ? pair[0] : pair[0], `s${pair[1]}`);
          assert.equal(removed, naive.delete(`${pair[1]}|${pair[0]}`));
        }
        assert.equal(index.size, naive.size);
        for (const topic of topics) {
          const expected = [...naive.keys()]
            .filter((key) => topicMatches(key.slice(key.indexOf('|') + 1), topic))
            .map((key) => `s${key.slice(0, key.indexOf('|'))}:${key.slice(0, key.indexOf('|'))}`)
            .sort();
          assert.deepEqual(matches(index, topic), expected, topic);
        }
      }),
      { seed: 0x19, numRuns: 400 },
    );
  });

  it('removing everything leaves an empty index (no node kept alive)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(filterArb, { maxLength: 40 }), (filters) => {
        const index = new TopicIndex<string, number>();
        for (const f of filters) index.add(f, 's', 0);
        for (const f of filters) assert.ok(index.remove(f, 's'));
        assert.equal(index.size, 0);
        assert.deepEqual(matches(index, 'a/b'), []);
        const root = (index as unknown as { root: { children: Map<string, unknown> | null; plus: unknown; hash: unknown; here: unknown } }).root;
        assert.ok((root.children === null || root.children.size === 0) && root.plus === null && root.hash === null && root.here === null);
      }),
      { seed: 0x19, numRuns: 200 },
    );
  });
});
