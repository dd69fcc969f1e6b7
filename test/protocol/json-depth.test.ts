// The JSON depth scan (issue 16 item 1) against the nesting of the values themselves, measured recursively on
// small values: brackets inside strings, escaped quotes and backslashes do not fool it; deep texts cost no stack.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_JSON_DEPTH, jsonDepthWithin, parseJsonWithin } from '../../src/protocol/json-depth.js';

/** Levels of arrays and objects in `value` (a scalar is 0). */
function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (value !== null && typeof value === 'object') return 1 + Math.max(0, ...Object.values(value).map(depthOf));
  return 0;
}

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

describe('jsonDepthWithin', () => {
  it('agrees with the depth of the value for any JSON, strings full of brackets, quotes and backslashes included', () => {
    const tricky = fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', 'a', 'é', '\u0001') });
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, tricky, fc.integer(), fc.constant(null), fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(tricky, tie('node'), { maxKeys: 3 })),
    })).node;
    fc.assert(
      fc.property(value, fc.nat({ max: 8 }), (v, max) => {
        const text = bytes(JSON.stringify(v));
        assert.equal(jsonDepthWithin(text, max), depthOf(v) <= max);
        assert.equal(parseJsonWithin(text, max) === undefined, depthOf(v) > max);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses a million levels without a stack, and passes exactly MAX_JSON_DEPTH', () => {
    const deep = bytes('['.repeat(1_000_000) + ']'.repeat(1_000_000));
    assert.equal(jsonDepthWithin(deep), false);
    assert.equal(parseJsonWithin(deep), undefined);
    const atBound = '['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH);
    assert.equal(jsonDepthWithin(bytes(atBound)), true);
    assert.deepEqual(JSON.stringify(parseJsonWithin(bytes(atBound))), atBound);
    assert.equal(jsonDepthWithin(bytes(`[${atBound}]`)), false);
    // Not JSON, or an unterminated string: no value, no exception.
    assert.equal(parseJsonWithin(bytes('[1,')), undefined);
    assert.equal(jsonDepthWithin(bytes('"[[[[')), true);
  });
});
