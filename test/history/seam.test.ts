// Replay, then live: a reader joined live first, then reads the history since its offset; reads take their time
// (as from Redis) while publishes go on, live deliveries may be dropped on the way (a slow consumer: the broker
// tells the seam), reads return at most a page. Whatever the interleaving, the reader gets every offset after its
// own exactly once, in order.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplaySeam, type Positioned } from '../../src/history/seam.js';
import { FUZZ_SEED } from '../protocol/fuzz-properties.js';

type Event = { t: 'append' } | { t: 'deliver'; drop: boolean } | { t: 'complete' };

const event: fc.Arbitrary<Event> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ t: 'append' as const }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('deliver' as const), drop: fc.integer({ min: 0, max: 12 }).map((n) => n === 0) }) },
  { weight: 2, arbitrary: fc.constant({ t: 'complete' as const }) },
);

const coverage = { merged: 0, reread: 0, dropsRecovered: 0 };

function run(start: number, since: number, pageSize: number, maxHeld: number, events: Event[]): void {
  let top = start;
  const reader = Math.min(since, start);
  const seam = new ReplaySeam<number>(reader, maxHeld);
  const out: number[] = [];
  // Joined live now: every offset appended from here on is queued for live delivery.
  const live: number[] = [];
  // Reads in flight: the snapshot each returns (taken when it was issued).
  const reads: Array<{ entries: Positioned<number>[]; more: boolean }> = [];
  const issue = (from: number): void => {
    const last = Math.min(top, from + pageSize);
    const entries: Positioned<number>[] = [];
    for (let o = from + 1; o <= last; o++) entries.push({ offset: o, item: o });
    reads.push({ entries, more: last < top });
  };
  const apply = (step: { send: number[]; readFrom: number | null }): void => {
    out.push(...step.send);
    if (step.readFrom !== null) {
      assert.equal(reads.length, 0, 'one read at a time');
      issue(step.readFrom);
      coverage.reread++;
    }
  };
  issue(reader);
  let dropped = false;
  const step = (e: Event): void => {
    if (e.t === 'append') live.push(++top);
    else if (e.t === 'deliver') {
      const offset = live.shift();
      if (offset === undefined) return;
      if (e.drop) {
        dropped = true;
        apply(seam.onDropped());
        return;
      }
      apply(seam.onLive(offset, offset));
    } else {
      const read = reads.shift();
      if (!read) return;
      const wasLive = seam.live;
      apply(seam.onReplay(read.entries, read.more));
      if (!wasLive && seam.live) coverage.merged++;
    }
  };
  for (const e of events) step(e);
  // Drain: deliver what is queued and complete reads until nothing is left.
  for (let guard = 0; guard < 100_000 && (live.length > 0 || reads.length > 0); guard++) step(live.length > 0 ? { t: 'deliver', drop: false } : { t: 'complete' });
  assert.equal(reads.length, 0);
  assert.ok(seam.live, 'live at the end');
  const expected = Array.from({ length: top - reader }, (_, i) => reader + 1 + i);
  assert.deepEqual(out, expected, 'every offset once, in order');
  if (dropped) coverage.dropsRecovered++;
}

describe('replay-then-live seam', () => {
  it('never leaves a gap or a duplicate at the seam, whatever the interleaving', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(event, { maxLength: 150, size: 'max' }),
        (start, since, page, maxHeld, events) => run(start, since, page, maxHeld, events),
      ),
      { seed: FUZZ_SEED, numRuns: 1000 },
    );
    assert.ok(coverage.merged > 500 && coverage.reread > 1000 && coverage.dropsRecovered > 100, JSON.stringify(coverage));
  });

  it('holds at most maxHeld live signals while reading, then re-reads what it let go', () => {
    const seam = new ReplaySeam<number>(0, 2);
    for (let o = 6; o <= 10; o++) assert.deepEqual(seam.onLive(o, o), { send: [], readFrom: null });
    const first = seam.onReplay([1, 2, 3, 4, 5].map((o) => ({ offset: o, item: o })), false);
    assert.deepEqual(first, { send: [1, 2, 3, 4, 5], readFrom: 5 });
    assert.equal(seam.live, false);
    const second = seam.onReplay([6, 7, 8, 9, 10].map((o) => ({ offset: o, item: o })), false);
    assert.deepEqual(second, { send: [6, 7, 8, 9, 10], readFrom: null });
    assert.equal(seam.live, true);
    assert.deepEqual(seam.onLive(10, 10).send, [], 'a duplicate is not sent');
    assert.deepEqual(seam.onLive(11, 11).send, [11]);
    assert.deepEqual(seam.onLive(13, 13), { send: [], readFrom: 11 }, 'a hole sends the reader back to the history');
  });
});
