// Channel history in a cluster, against a private redis-server (append-only): two nodes publishing on one channel
// share one numbering; readers recover exactly or are refused for a reason (random interleavings); an idle history
// expires with its epoch; a Redis restart starts a new epoch, continuing the offsets.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { HistoryPolicy, parseHistoryRule } from '../../src/history/policy.js';
import { RedisHistory } from '../../src/history/redis-history.js';
import type { Position } from '../../src/history/channel-history.js';
import { DurableRedis, redisSkipReason } from '../store/durable-redis.js';
import { FUZZ_SEED } from '../protocol/fuzz-properties.js';
import { sleep } from '../kit/wait.js';

describe('history in Redis (a cluster)', { skip: redisSkipReason() }, () => {
  let redis: DurableRedis;
  let a: Redis;
  let b: Redis;
  let prefixes = 0;
  before(async () => {
    redis = await DurableRedis.start();
    a = redis.client();
    b = redis.client();
  });
  after(async () => {
    a?.disconnect();
    b?.disconnect();
    await redis?.destroy();
  });
  const nodes = (policy: HistoryPolicy): [RedisHistory, RedisHistory] => {
    const prefix = `h${++prefixes}`;
    return [new RedisHistory({ redis: a, prefix, policy }), new RedisHistory({ redis: b, prefix, policy })];
  };

  it('two nodes publishing on one channel share one numbering; a reader gets both, in order', async () => {
    const [na, nb] = nodes(HistoryPolicy.parse(['chat=100']));
    const appended = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? na : nb).append('CH:chat', Buffer.from(`s${i}`))!));
    const offsets = appended.map((p) => p.offset).sort((x, y) => x - y);
    assert.deepEqual(offsets, Array.from({ length: 40 }, (_, i) => i + 1), 'every offset once');
    assert.equal(new Set(appended.map((p) => p.epoch)).size, 1);
    const r = await na.since('CH:chat', appended[0]!.epoch, 10);
    assert.ok(r.ok);
    assert.deepEqual(r.entries.map((e) => e.offset), Array.from({ length: 30 }, (_, i) => i + 11));
    const byOffset = new Map(appended.map((p, i) => [p.offset, `s${i}`]));
    for (const e of r.entries) assert.equal(e.msg.toString(), byOffset.get(e.offset));
    assert.deepEqual(r.position, { epoch: appended[0]!.epoch, offset: 40 });
    assert.equal(na.append('CH:none', Buffer.from('x')), null);
    assert.deepEqual(await nb.since('CH:none', 'E', 0), { ok: false, reason: 'no-history', position: null });
  });

  it('recovers exactly or refuses for a reason, under random interleavings of two nodes', async () => {
    const stats = { recovered: 0, entries: 0, tooOld: 0, ahead: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ t: fc.constant('publish' as const), node: fc.nat(1), n: fc.integer({ min: 1, max: 6 }) }),
            fc.record({ t: fc.constant('read' as const), reader: fc.nat(2), limit: fc.integer({ min: 1, max: 10 }) }),
            fc.record({ t: fc.constant('forge' as const), delta: fc.integer({ min: 1, max: 3 }) }),
          ),
          { minLength: 5, maxLength: 40, size: 'max' },
        ),
        async (actions) => {
          const [na, nb] = nodes(HistoryPolicy.parse(['room=8']));
          const texts = new Map<number, string>();
          const readers = new Map<number, Position>();
          let counter = 0;
          for (const act of actions) {
            if (act.t === 'publish') {
              const node = act.node === 0 ? na : nb;
              const made = await Promise.all(Array.from({ length: act.n }, () => {
                const text = `m${++counter}`;
                return node.append('CH:room', Buffer.from(text))!.then((p) => [p, text] as const);
              }));
              for (const [p, text] of made) {
                assert.equal(texts.has(p.offset), false, `offset ${p.offset} twice`);
                texts.set(p.offset, text);
              }
            } else if (act.t === 'forge') {
              const p = await na.position('CH:room');
              if (!p) continue;
              const r = await nb.since('CH:room', p.epoch, p.offset + act.delta);
              assert.equal(r.ok ? 'ok' : r.reason, 'ahead');
              stats.ahead++;
            } else {
              const held = readers.get(act.reader);
              if (!held) {
                const p = await na.position('CH:room');
                if (p) readers.set(act.reader, p);
                continue;
              }
              const r = await (act.reader % 2 === 0 ? na : nb).since('CH:room', held.epoch, held.offset, act.limit);
              if (r.ok) {
                stats.recovered++;
                let next = held.offset + 1;
                for (const e of r.entries) {
                  assert.equal(e.offset, next++, 'consecutive');
                  assert.equal(e.msg.toString(), texts.get(e.offset));
                  stats.entries++;
                }
                readers.set(act.reader, { epoch: r.epoch, offset: next - 1 });
              } else {
                assert.equal(r.reason, 'too-old');
                assert.ok(held.offset + 1 <= r.position!.offset - 8, 'too-old only past the count bound');
                stats.tooOld++;
                readers.delete(act.reader);
              }
            }
          }
        },
      ),
      { seed: FUZZ_SEED, numRuns: 60 },
    );
    assert.ok(stats.recovered > 100 && stats.entries > 200 && stats.tooOld > 10 && stats.ahead > 50, JSON.stringify(stats));
  });

  it('an idle history expires with its age bound, and the next signal starts a new epoch', async () => {
    const rule = parseHistoryRule('fast=0/1');
    const [na] = nodes(new HistoryPolicy([{ pattern: rule.pattern, limits: { count: 0, maxAgeMs: 150 } }]));
    const first = (await na.append('CH:fast', Buffer.from('a')))!;
    await sleep(60);
    await na.append('CH:fast', Buffer.from('b'));
    const r = await na.since('CH:fast', first.epoch, 1);
    assert.ok(r.ok && r.entries.length === 1);
    const deadline = Date.now() + 3000;
    while ((await na.position('CH:fast')) !== null && Date.now() < deadline) await sleep(50);
    assert.equal(await na.position('CH:fast'), null, 'expired');
    assert.equal((await na.since('CH:fast', first.epoch, 2)).ok, false);
    const again = (await na.append('CH:fast', Buffer.from('c')))!;
    assert.notEqual(again.epoch, first.epoch);
    assert.equal(again.offset, 1);
  });

  it('a Redis restart starts a new epoch that continues the offsets; old positions are refused', async () => {
    const [na] = nodes(HistoryPolicy.parse(['keep=100']));
    let last: Position | null = null;
    for (let i = 0; i < 5; i++) last = await na.append('CH:keep', Buffer.from(`m${i}`));
    await redis.kill();
    await redis.restart();
    const after = await (async () => {
      for (;;) {
        try {
          return (await na.append('CH:keep', Buffer.from('after')))!;
        } catch {
          await sleep(50); // the client reconnects
        }
      }
    })();
    assert.notEqual(after.epoch, last!.epoch, 'Redis may have lost its tail: a new epoch');
    assert.equal(after.offset, 6, 'offsets go on: a number is never given twice');
    const r = await na.since('CH:keep', last!.epoch, 3);
    assert.equal(r.ok ? 'ok' : r.reason, 'epoch');
    const fresh = await na.since('CH:keep', after.epoch, 5);
    assert.ok(fresh.ok && fresh.entries.length === 1 && fresh.entries[0]!.msg.toString() === 'after');
  });
});
