// The supervisor's back-off for a worker slot whose workers keep dying (issue 16 item 2): doubling to a cap, and a
// fresh count after a stable run. The process tests (test/cluster/workers-crash-loop.test.ts) show it end to end.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RestartBackoff, backoffWithCap } from '../../src/workers/restart-backoff.js';

describe('restart back-off', () => {
  it('doubles from the base up to the cap, and starts again after a stable run', () => {
    const backoff = new RestartBackoff({ baseMs: 1000, maxMs: 30_000, stableMs: 60_000 });
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(() => backoff.died(500)), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    assert.equal(backoff.died(60_000), 1000, 'a worker that lived a minute was not in a crash loop');
    assert.deepEqual(backoffWithCap(400), { baseMs: 400, maxMs: 400, stableMs: 60_000 });
  });
});
