// The publishCounter split across nodes, and how its shares cross the bus (no Redis needed).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isBudgetShares, shareFor, splitBudget } from '../../src/cluster/budget-split.js';
import { KIND, decodeEnvelope, encodeEnvelope } from '../../src/cluster/envelope.js';

describe('publishCounter budget split', () => {
  it('shares add up to the budget, differ by at most one, and each node finds its own', () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 20 }), (budget, nodes) => {
        const shares = splitBudget(budget, nodes);
        assert.ok(isBudgetShares(shares));
        const each = nodes.map((n) => shareFor(shares, n));
        assert.equal(each.reduce((a, b) => a + b, 0), budget);
        assert.ok(Math.max(...each) - Math.min(...each) <= 1);
        assert.equal(shareFor(shares, '\u0000not-a-node'), 0, 'a node not in the list gets nothing');
      }),
    );
  });

  it('no nodes, no shares; -1 stays uncapped; a plain number is that cap', () => {
    assert.deepEqual(splitBudget(5, []), []);
    assert.equal(shareFor(-1, 'B'), -1);
    assert.equal(shareFor(4, 'B'), 4);
    assert.deepEqual(splitBudget(2, ['B', 'C', 'D']), ['B', 1, 'C', 1, 'D', 0]);
  });

  it('the envelope carries the shares; malformed ones are refused', () => {
    const base = { kind: KIND.PUBLISH, node: 'A', seq: 1, key: 'CH:x', msg: Buffer.from('m'), publisher: '?pub' } as const;
    assert.deepEqual(decodeEnvelope(encodeEnvelope({ ...base, budget: ['B', 3, 'C', 2] })), { ...base, budget: ['B', 3, 'C', 2] });
    assert.deepEqual(decodeEnvelope(encodeEnvelope({ ...base, budget: -1 })), { ...base, budget: -1 });
    for (const bad of [['B'], ['B', -1], ['B', 1.5], [3, 'B'], ['B', '3']]) {
      assert.equal(isBudgetShares(bad), false, JSON.stringify(bad));
      // biome-ignore lint/suspicious/noExplicitAny: a deliberately malformed envelope
      assert.equal(decodeEnvelope(encodeEnvelope({ ...base, budget: bad as any })), null);
    }
  });
});
