// Waiting for answers: message ids wrap instead of overflowing (Q31), every wait ends, RTT statistics.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NotConnectedError, ReplyTimeoutError } from '../../src/client/index.js';
import { PendingCalls, ReplyQueue } from '../../src/client/replies.js';
import { summarize } from '../../src/client/rtt.js';

describe('PendingCalls', () => {
  it('counts message ids 1..65535 and then wraps to 1 (never 0, never 65536)', () => {
    const calls = new PendingCalls<number>();
    let last = 0;
    for (let i = 0; i < 65535; i++) last = calls.nextMid();
    assert.equal(last, 65535);
    assert.equal(calls.nextMid(), 1);
    assert.equal(calls.nextMid(), 2);
  });

  it('skips ids that still wait for an answer', async () => {
    const calls = new PendingCalls<number>();
    const first = calls.nextMid();
    const waiting = calls.wait(first, 'call', 1000);
    for (let i = 0; i < 65534; i++) calls.nextMid();
    assert.equal(calls.nextMid(), 2, 'id 1 is still waiting, so it is skipped');
    assert.equal(calls.settle(first, { value: 7 }), true);
    assert.equal(await waiting, 7);
    assert.equal(calls.settle(first, { value: 8 }), false, 'a late second answer is ignored');
  });

  it('rejects with ReplyTimeoutError when the time is up', async () => {
    const calls = new PendingCalls<number>();
    const mid = calls.nextMid();
    const started = Date.now();
    await assert.rejects(calls.wait(mid, 'call svc.topic', 50), ReplyTimeoutError);
    assert.ok(Date.now() - started < 1000);
    assert.equal(calls.size, 0);
  });
});

describe('ReplyQueue', () => {
  it('hands a value to the oldest waiter that accepts it', async () => {
    const queue = new ReplyQueue<string>();
    const a = queue.wait('echo a', 1000, (v) => v === 'a');
    const b = queue.wait('echo b', 1000, (v) => v === 'b');
    assert.equal(queue.deliver('b'), true);
    assert.equal(queue.deliver('c'), false);
    assert.equal(queue.deliver('a'), true);
    assert.deepEqual(await Promise.all([a, b]), ['a', 'b']);
  });

  it('rejects every waiter with NotConnectedError when the connection goes', async () => {
    const queue = new ReplyQueue<string>();
    const waiting = queue.wait('iam', 1000);
    queue.rejectAll('iam');
    await assert.rejects(waiting, NotConnectedError);
  });
});

describe('summarize', () => {
  it('gives count, min, median, nearest-rank p99 and max', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.deepEqual(summarize(samples, 2), { count: 100, lost: 2, min: 1, median: 50.5, p99: 99, max: 100 });
    assert.deepEqual(summarize([3, 1, 2]), { count: 3, lost: 0, min: 1, median: 2, p99: 3, max: 3 });
    const none = summarize([], 4);
    assert.equal(none.count, 0);
    assert.ok(Number.isNaN(none.median));
  });
});
