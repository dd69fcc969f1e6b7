// The pooled random bytes behind hello nonces and anonymous CIDs: right sizes, fresh across pool refills.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBase64url, randomUint } from '../../src/crypto/random-pool.js';

describe('random pool', () => {
  it('gives base64url text of the asked size, unique across several pool refills', () => {
    const seen = new Set<string>();
    // 3 × 20 000 bytes: the 4 KiB pool is refilled about 15 times on the way.
    for (let i = 0; i < 20_000; i++) {
      const text = randomBase64url(3);
      assert.match(text, /^[A-Za-z0-9_-]{4}$/);
      seen.add(text);
    }
    // 2^24 values: 20 000 draws collide about 12 times on average; a repeating pool would collide thousands of times.
    assert.ok(seen.size > 19_900, `${20_000 - seen.size} repeats`);
    assert.equal(randomBase64url(7).length, 10);
  });

  it('gives integers of the asked width, covering the range', () => {
    let high = 0;
    let low = 0;
    for (let i = 0; i < 5_000; i++) {
      const value = randomUint(3);
      assert.ok(Number.isInteger(value) && value >= 0 && value < 2 ** 24, String(value));
      if (value >= 2 ** 23) high++;
      else low++;
    }
    assert.ok(high > 2_000 && low > 2_000, `high ${high}, low ${low}`);
  });
});
