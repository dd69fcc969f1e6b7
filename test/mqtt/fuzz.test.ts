// The short, seeded MQTT fuzz run of `npm test`; the same properties run at length in `npm run fuzz` once listed
// there (see fuzz-properties.ts).
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FUZZ_SEED } from '../protocol/fuzz-properties.js';
import assert from 'node:assert/strict';
import { MQTT_FUZZ_PROPERTIES, sessionCoverage } from './fuzz-properties.js';

describe('MQTT fuzz (short, seeded)', () => {
  for (const p of MQTT_FUZZ_PROPERTIES) {
    it(`${p.name}: ${p.shortRuns} cases`, () => {
      fc.assert(p.property(), { seed: FUZZ_SEED, numRuns: p.shortRuns });
    });
  }
  it('the session property checked something: deliveries counted exactly once, acknowledgements, resumed sessions, full windows', () => {
    assert.ok(sessionCoverage.runs >= 300, JSON.stringify(sessionCoverage));
    assert.ok(sessionCoverage.exactlyOnce >= 150, JSON.stringify(sessionCoverage));
    assert.ok(sessionCoverage.acksChecked >= 300, JSON.stringify(sessionCoverage));
    assert.ok(sessionCoverage.resumed >= 10, JSON.stringify(sessionCoverage));
    assert.equal(sessionCoverage.inflightPeak, 3, JSON.stringify(sessionCoverage));
  });
});
