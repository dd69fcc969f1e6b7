// InOrder: steps and async work leave in the order they came, whatever order the work finishes in.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InOrder } from '../../src/connection/in-order.js';

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const never = (err: unknown): void => assert.fail(`unexpected: ${String(err)}`);

describe('InOrder', () => {
  it('runs steps at once while nothing is pending', () => {
    const q = new InOrder(100, never);
    const seen: number[] = [];
    q.run(() => seen.push(1), 10);
    assert.deepEqual(seen, [1]);
    assert.equal(q.busy, false);
  });

  it('holds later steps behind unfinished work, and keeps order when work finishes out of order', async () => {
    const q = new InOrder(1000, never);
    const seen: string[] = [];
    const big = deferred<string>();
    const second = deferred<string>();
    q.wait(big.promise, (v) => seen.push(v), never, 100);
    q.run(() => seen.push('small 1'), 1);
    q.wait(second.promise, (v) => seen.push(v), never, 100);
    q.run(() => seen.push('small 2'), 1);
    second.resolve('second');
    await tick();
    assert.deepEqual(seen, []);
    big.resolve('big');
    await tick();
    assert.deepEqual(seen, ['big', 'small 1', 'second', 'small 2']);
    assert.equal(q.busy, false);
    assert.equal(q.queuedBytes, 0);
  });

  it('passes a failure to its handler in its turn and carries on', async () => {
    const q = new InOrder(1000, never);
    const seen: string[] = [];
    const work = deferred<string>();
    q.wait(work.promise, never, () => seen.push('failed'), 10);
    q.run(() => seen.push('after'), 1);
    work.reject(new Error('x'));
    await tick();
    assert.deepEqual(seen, ['failed', 'after']);
  });

  it('puts work started by a queued step before the steps queued after it', async () => {
    const q = new InOrder(1000, never);
    const seen: string[] = [];
    const first = deferred<string>();
    const nested = deferred<string>();
    q.wait(first.promise, (v) => seen.push(v), never, 10);
    q.run(() => {
      seen.push('step starts work');
      q.wait(nested.promise, (v) => seen.push(v), never, 10);
    }, 1);
    q.run(() => seen.push('last'), 1);
    first.resolve('first');
    await tick();
    assert.deepEqual(seen, ['first', 'step starts work']);
    nested.resolve('nested');
    await tick();
    assert.deepEqual(seen, ['first', 'step starts work', 'nested', 'last']);
  });

  it('takes entries while less than the limit waits (limit + one entry), then refuses', () => {
    const q = new InOrder(100, never);
    const pending = new Promise<void>(() => {});
    assert.equal(q.wait(pending, () => {}, () => {}, 60), true);
    assert.equal(q.run(() => {}, 60), true, 'the entry that crosses the limit is taken');
    assert.equal(q.queuedBytes, 120);
    assert.equal(q.run(() => {}, 1), false);
  });

  it('accepts one entry of any size when empty, then bounds the bytes waiting', () => {
    const q = new InOrder(100, never);
    const pending = new Promise<void>(() => {});
    assert.equal(q.wait(pending, () => {}, () => {}, 500), true);
    assert.equal(q.accepts(), false);
    assert.equal(q.run(() => {}, 1), false);
  });

  it('contains a throwing step and runs the next one', async () => {
    const errors: unknown[] = [];
    const q = new InOrder(1000, (err) => errors.push(err));
    const seen: string[] = [];
    const work = deferred<void>();
    q.wait(work.promise, () => {
      throw new Error('boom');
    }, never, 1);
    q.run(() => seen.push('next'), 1);
    work.resolve();
    await tick();
    assert.equal(errors.length, 1);
    assert.deepEqual(seen, ['next']);
  });

  it('forgets everything on clear, and ignores work that ends afterwards', async () => {
    const q = new InOrder(1000, never);
    const seen: string[] = [];
    const work = deferred<string>();
    q.wait(work.promise, (v) => seen.push(v), never, 1);
    q.run(() => seen.push('queued'), 1);
    q.clear();
    work.resolve('late');
    await tick();
    assert.deepEqual(seen, []);
    assert.equal(q.busy, false);
  });
});
