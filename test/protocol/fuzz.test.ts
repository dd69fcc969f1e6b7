// The short, seeded fuzz run of `npm test`; `npm run fuzz` runs the same properties for over a million cases.
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FUZZ_SEED, PROPERTIES } from './fuzz-properties.js';

describe('fuzz (short, seeded)', () => {
  for (const p of PROPERTIES) {
    it(`${p.name}: ${p.shortRuns} cases`, async () => {
      await p.setUp?.();
      try {
        await fc.assert(p.property(), { seed: FUZZ_SEED, numRuns: p.shortRuns });
      } finally {
        await p.tearDown?.();
      }
    });
  }
});
