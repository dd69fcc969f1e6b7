// The outbox's rate budget and the bus's sequence numbers, on a manual clock (issue 16 item 9). The end-to-end
// cases (a real flood, a node cut by Redis) are in bus-loss.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BusBudget, ENVELOPE_COST, WINDOW_MS } from '../../src/cluster/bus-budget.js';
import { ChannelSequences, SEQUENCE_GENERATION, StreamGaps } from '../../src/cluster/sequences.js';

const RATE = 1_000_000; // bytes per second: 100 000 per window
const PER_WINDOW = (RATE * WINDOW_MS) / 1000;

/** A budget on a clock the test moves; `sendAll` offers `count` envelopes of `bytes` and returns how many passed. */
function budgetOnClock(): { budget: BusBudget; advance: (ms: number) => void; sendAll: (publisher: string, count: number, bytes: number) => number } {
  let now = 0;
  const budget = new BusBudget(RATE, () => now);
  return {
    budget,
    advance(ms) {
      now += ms;
      budget.tick();
    },
    sendAll(publisher, count, bytes) {
      let passed = 0;
      for (let i = 0; i < count; i++) if (budget.take(bytes, publisher) === null) passed++;
      return passed;
    },
  };
}

describe('bus budget', () => {
  it('a lone flooder gets about half the budget, window after window; the rest stays free for others', () => {
    const { budget, advance, sendAll } = budgetOnClock();
    const cost = 1000 + ENVELOPE_COST;
    let passed = 0;
    for (let w = 0; w < 50; w++) {
      passed += sendAll('?flood', 10_000, 1000);
      assert.equal(budget.take(1000, '?flood'), 'share', 'past its share in every window');
      advance(WINDOW_MS);
    }
    const perWindow = (passed * cost) / 50;
    assert.ok(perWindow <= PER_WINDOW / 2 + cost, `at most half a window and one message: ${perWindow}`);
    assert.ok(perWindow >= PER_WINDOW / 2 - cost, `and it does get its half: ${perWindow}`);
  });

  it('a quiet publisher keeps its share beside a flooder; with more flooders each gets less, the total stays within', () => {
    const { advance, sendAll } = budgetOnClock();
    for (let w = 0; w < 20; w++) {
      const flood = sendAll('?flood', 10_000, 1000);
      assert.equal(sendAll('?calm', 5, 100), 5, `the calm publisher's messages all pass (window ${w})`);
      if (w > 0) assert.ok(flood * (1000 + ENVELOPE_COST) <= PER_WINDOW / 3 + 1128, `flooder within a third: ${flood}`);
      advance(WINDOW_MS);
    }
    let total = 0;
    for (let w = 0; w < 20; w++) {
      let window = 0;
      for (const p of ['?f1', '?f2', '?f3', '?f4']) window += sendAll(p, 10_000, 1000) * (1000 + ENVELOPE_COST);
      if (w > 1) assert.ok(window <= PER_WINDOW + 4 * 1128, `four flooders together within the window budget: ${window}`);
      total += window;
      advance(WINDOW_MS);
    }
    assert.ok(total / 20 <= PER_WINDOW * 1.1, 'and over time');
  });

  it('a message larger than a window passes alone, then holds its sender back for as long as it cost', () => {
    const { advance, budget } = budgetOnClock();
    assert.equal(budget.take(1_000_000, '?big'), null, 'one big message passes');
    assert.equal(budget.take(10, '?big'), 'budget', 'the node budget is spent for 10 windows');
    assert.equal(budget.take(10, ''), 'budget', 'for everyone');
    let windows = 0;
    while (budget.take(10, '?big') !== null) {
      advance(WINDOW_MS);
      windows++;
    }
    // 1 MB at half of 100 000 bytes per window: about 20 windows (the node's budget is paid back after 10).
    assert.ok(windows >= 18 && windows <= 22, `${windows} windows`);
  });

  it('the server itself has no share but counts in the node budget; idle publishers leave no state', () => {
    const { advance, budget, sendAll } = budgetOnClock();
    const passed = sendAll('', 10_000, 1000);
    assert.equal(passed, Math.ceil(PER_WINDOW / (1000 + ENVELOPE_COST)), 'the server fills the node budget');
    assert.equal(budget.take(1000, '?other'), 'budget');
    advance(WINDOW_MS);
    sendAll('?a', 3, 10);
    sendAll('?b', 3, 10);
    assert.equal(budget.publishers, 2);
    advance(WINDOW_MS * 2);
    assert.equal(budget.publishers, 0, 'paid-up accounts are forgotten');
  });
});

describe('bus sequence numbers', () => {
  it('numbers runs per channel; a channel unused for a generation starts again', () => {
    const seq = new ChannelSequences();
    assert.equal(seq.take('a', 3), 1);
    assert.equal(seq.take('b', 1), 1);
    assert.equal(seq.take('a', 2), 4);
    for (let i = 0; i < SEQUENCE_GENERATION * 2; i++) seq.take(`c${i}`, 1);
    assert.equal(seq.take('a', 1), 1, 'forgotten after two generations without use');
    for (let i = 0; i < SEQUENCE_GENERATION - 1; i++) seq.take(`d${i}`, 1);
    seq.take('keep', 5);
    for (let i = 0; i < SEQUENCE_GENERATION + 10; i++) {
      seq.take(`e${i}`, 1);
      if (i % 1000 === 0) seq.take('keep', 1);
    }
    assert.equal(seq.take('keep', 1), 1 + 5 + Math.ceil((SEQUENCE_GENERATION + 10) / 1000), 'a channel in use keeps counting');
  });

  it('counts what never arrived, per sender and channel; a restart or a new subscription is no loss', () => {
    const gaps = new StreamGaps();
    assert.equal(gaps.arrived('A', 'ch', 1, 3), 0, 'first message: nothing known before it');
    assert.equal(gaps.arrived('A', 'ch', 4, 1), 0, 'in order');
    assert.equal(gaps.arrived('A', 'ch', 10, 2), 5, '5 to 9 never came');
    assert.equal(gaps.arrived('B', 'ch', 50, 1), 0, 'another sender is another stream');
    assert.equal(gaps.arrived('A', 'other', 7, 1), 0, 'another channel too');
    assert.equal(gaps.arrived('A', 'ch', 1, 1), 0, 'the sender counts again from 1: a restart, not a loss');
    assert.equal(gaps.arrived('A', 'ch', 3, 1), 1);
    gaps.forgetChannel('ch');
    assert.equal(gaps.arrived('A', 'ch', 100, 1), 0, 'after a new subscription nothing is expected');
    gaps.forgetSender('A');
    assert.equal(gaps.arrived('A', 'other', 90, 1), 0);
    assert.equal(gaps.total, 6);
    assert.deepEqual([...gaps.bySender], [['A', 6]]);
  });
});
