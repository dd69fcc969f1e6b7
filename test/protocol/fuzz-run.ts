// `npm run fuzz`: the long run. Every property gets its share of the cases (default FUZZ_CASES in all, or the
// first argument), and the MQTT properties theirs of MQTT_FUZZ_CASES (or the third argument; issue 19: at least a
// million); a failing case is shrunk and saved as JSON under fuzz-failures/, and the run exits 1.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { FUZZ_CASES, FUZZ_SEED, PROPERTIES, type FuzzProperty } from './fuzz-properties.js';
import { MQTT_FUZZ_PROPERTIES } from '../mqtt/fuzz-properties.js';

/** The MQTT decoder, engine and session-model properties together (weights 0.35 / 0.35 / 0.3 of these). */
const MQTT_FUZZ_CASES = 1_000_000;

const total = Number(process.argv[2] ?? FUZZ_CASES);
const seed = Number(process.argv[3] ?? FUZZ_SEED);
const mqttTotal = Number(process.argv[4] ?? MQTT_FUZZ_CASES);
const outDir = join(process.cwd(), 'fuzz-failures');

function serialise(value: unknown): unknown {
  if (value instanceof Uint8Array) return { hex: Buffer.from(value).toString('hex') };
  if (Array.isArray(value)) return value.map(serialise);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, serialise(v)]));
  return value;
}

let cases = 0;
let failed = false;
const started = Date.now();
const plan: Array<[FuzzProperty, number]> = [
  ...PROPERTIES.map((p): [FuzzProperty, number] => [p, total]),
  ...MQTT_FUZZ_PROPERTIES.map((p): [FuzzProperty, number] => [p, mqttTotal]),
];
for (const [p, share] of plan) {
  const runs = Math.max(1, Math.round(share * p.weight));
  const t0 = Date.now();
  await p.setUp?.();
  try {
    const details = await fc.check(p.property(), { seed, numRuns: runs, endOnFailure: false });
    cases += details.numRuns;
    const took = ((Date.now() - t0) / 1000).toFixed(1);
    if (details.failed) {
      failed = true;
      mkdirSync(outDir, { recursive: true });
      const file = join(outDir, `${p.name}-${Date.now()}.json`);
      writeFileSync(
        file,
        JSON.stringify({ property: p.name, seed, path: details.counterexamplePath, error: String(details.errorInstance), counterexample: serialise(details.counterexample) }, null, 2),
      );
      console.log(`${p.name}: FAILED after ${details.numRuns} cases in ${took} s; input saved to ${file}`);
    } else {
      console.log(`${p.name}: ${details.numRuns} cases, no failure, ${took} s`);
    }
  } finally {
    await p.tearDown?.();
  }
}
console.log(`fuzz: ${cases} cases in ${((Date.now() - started) / 1000).toFixed(1)} s, seed ${seed}: ${failed ? 'FAILURES (see fuzz-failures/)' : 'no failure'}`);
process.exit(failed ? 1 : 0);
