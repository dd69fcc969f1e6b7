// Micro-benchmark of the MQTT subscription index (src/mqtt/topic-index.ts): the cost of matching one publish as
// the number of wildcard subscriptions that do NOT match it grows from 0 to 100 000, against the naive scan of
// every filter. Prints ns per match; not a test, asserts nothing.
//   node dist/bench/mqtt-index.js [--subs 100000] [--matches 200000]
import { TopicIndex } from '../src/mqtt/topic-index.js';
import { topicMatches } from '../src/mqtt/topic.js';
import { eachFlag } from './lib/flags.js';

let subs = 100_000;
let matches = 200_000;
eachFlag(process.argv.slice(2), (flag, value) => {
  if (flag === '--subs') subs = Number(value());
  else if (flag === '--matches') matches = Number(value());
  else throw new Error(`unknown flag ${flag}`);
});

/** Filters of a fleet: `site/<n>/+/temp`, `dev/<n>/#`, `+/<n>/status`: none matches `sensor/kitchen/temp`. */
function fleetFilters(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    out.push(`site/${i}/+/temp`);
    if (out.length < n) out.push(`dev/${i}/#`);
    if (out.length < n) out.push(`+/${i}/status`);
  }
  return out;
}

function timeIt(label: string, runs: number, fn: () => number): number {
  for (let i = 0; i < Math.min(runs, 10_000); i++) fn(); // warm up
  const t0 = process.hrtime.bigint();
  let hits = 0;
  for (let i = 0; i < runs; i++) hits += fn();
  const ns = Number(process.hrtime.bigint() - t0) / runs;
  console.log(`${label.padEnd(58)} ${ns.toFixed(0).padStart(9)} ns/match  (${hits / runs} hits per match)`);
  return ns;
}

const topic = 'sensor/kitchen/temp';
const rows: Array<[number, number]> = [];
for (const n of [3, 1000, 10_000, subs]) {
  const index = new TopicIndex<number, number>();
  const filters = fleetFilters(n);
  for (let i = 0; i < filters.length; i++) index.add(filters[i]!, i, 0);
  index.add(topic, -1, 0); // one exact subscriber that does match
  let hits = 0;
  const visit = (): void => {
    hits++;
  };
  const ns = timeIt(`index, ${n} non-matching wildcard subscriptions`, matches, () => {
    hits = 0;
    index.match(topic, visit);
    return hits;
  });
  rows.push([n, ns]);
}
const naiveFilters = fleetFilters(subs);
const naiveRuns = Math.max(20, Math.floor(matches / 2000));
const naive = timeIt(`naive scan of ${subs} filters (topicMatches each)`, naiveRuns, () => {
  let hits = 0;
  for (const f of naiveFilters) if (topicMatches(f, topic)) hits++;
  return hits;
});
const base = rows[0]![1];
const last = rows[rows.length - 1]![1];
console.log(`\n${subs} non-matching wildcards cost ${(last / base).toFixed(2)}x an index with 3 of them; the naive scan costs ${(naive / base).toFixed(0)}x`);
