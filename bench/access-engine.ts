// Access engine micro-benchmark (issue 18): the decision a delivery needs, with 1 000 rules and 10 000 subjects
// × 1 000 channels, in one process, no sockets. It measures
//   - the first decision of every (subject, channel) pair (the subscribe-time cost, profiles shared or not),
//   - the cached decision, i.e. what a wildcard delivery pays per receiver, next to a bare Map lookup of the same
//     keys (the floor any per-receiver check costs) and the no-ACL path (today's behaviour),
//   - the first decisions again after a reload (every cache voided), and the heap the caches hold;
// and then, through a whole broker (in-memory links, the same run, servers alternated per round):
//   - fan-out: one publisher, --subscribers receivers on one channel, server CPU per delivery with the 1 000
//     rules in force and without any (the target: at most 1.05×),
//   - the publish path: one publisher, one receiver, server CPU per publish with and without rules (the check
//     a publish pays: its key, one cached decision, and a retained write's second one).
//
//   npm run build && node dist/bench/access-engine.js [--rules 1000] [--subjects 10000] [--channels 1000] [--rounds 3]
//                                                     [--subscribers 10000] [--publishes 200] [--broker-rounds 9]
import { AccessControl, type AccessSubject } from '../src/access/engine.js';
import { parseAcl } from '../src/access/rules.js';
import type { SubjectFacts } from '../src/access/subject.js';
import { median } from './lib/stats.js';
import { startServer, type Server } from '../src/server.js';
import type { MemoryEndpoint } from '../src/transport/memory.js';
import { MSG, PAYLOAD } from '../src/protocol/codes.js';
import { encodeSignal, encodeTagMessage } from '../src/protocol/messages.js';

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const RULES = flag('rules', 1000);
const SUBJECTS = flag('subjects', 10_000);
const CHANNELS = flag('channels', 1000);
const ROUNDS = flag('rounds', 3);
const SUBSCRIBERS = flag('subscribers', 10_000);
const PUBLISHES = flag('publishes', 200);
const BROKER_ROUNDS = flag('broker-rounds', 9);
const ZONES = 50;

/** A rule mix like a shared deployment's: per-device prefixes, zones by level and site, denials, own-CID rules. */
function ruleText(count: number): string {
  const lines: string[] = ['allow members send,retain @#', 'allow members subscribe {cid}@#'];
  for (let i = 0; lines.length < count; i++) {
    switch (i % 5) {
      case 0:
        lines.push(`allow device:d${i} publish,retain dev/d${i}/#`);
        break;
      case 1:
        lines.push(`allow level:${[0, 1, 2, 3, 10, 11, 12][i % 7]} subscribe zone/z${i % ZONES}/#`);
        break;
      case 2:
        lines.push(`allow address:10.${i % 200}.0.0/16 subscribe site/s${i % 200}/#`);
        break;
      case 3:
        lines.push(`deny anonymous subscribe zone/z${i % ZONES}/private/#`);
        break;
      default:
        lines.push(`allow members&level:${[2, 3, 11][i % 3]} subscribe zone/+/shared/${i % 97}`);
    }
  }
  return lines.join('\n');
}

function subjectFacts(i: number): SubjectFacts {
  const member = i % 5 < 2;
  return {
    authenticated: member,
    did: member ? `d${i % 4000}` : '',
    cid: member ? `C${i}` : `?a${i}`,
    level: [0, 1, 2, 3, 10, 11, 12][i % 7]!,
    address: `10.${i % 200}.${(i >> 8) & 255}.${i & 255}`,
    certificate: null,
  };
}

function channelKeys(count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) {
    const zone = i % ZONES;
    const shapes = [`CH:zone/z${zone}/sensor/${i}`, `CH:zone/z${zone}/private/${i}`, `CH:zone/z${zone}/shared/${i % 97}`, `CH:site/s${i % 200}/t${i}`, `CID:C${i}@status`];
    keys.push(shapes[i % shapes.length]!);
  }
  return keys;
}

/**
 * CPU ns per call of `check` over every (subject, key) pair: process CPU time, not wall time, so other load on a
 * shared machine does not count.
 */
function timeAll(subjects: readonly AccessSubject[], keys: readonly string[], check: (s: AccessSubject, key: string) => boolean): { ns: number; allowed: number } {
  let allowed = 0;
  const start = process.cpuUsage();
  for (const s of subjects) for (const key of keys) if (check(s, key)) allowed++;
  const used = process.cpuUsage(start);
  return { ns: ((used.user + used.system) * 1000) / (subjects.length * keys.length), allowed };
}

function heapMiB(): number {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

const text = ruleText(RULES);
const rules = parseAcl(text, 'bench');
const keys = channelKeys(CHANNELS);
console.log(`access engine: ${rules.rules.length} rules (${rules.subjects.length} subjects), ${SUBJECTS} subjects × ${keys.length} channels, ${ROUNDS} rounds`);

const first: number[] = [];
const cached: number[] = [];
const floor: number[] = [];
const open: number[] = [];
const afterReload: number[] = [];
let heapCaches = 0;
for (let round = 0; round < ROUNDS; round++) {
  const engine = new AccessControl();
  engine.replace(rules);
  const heap0 = heapMiB();
  const subjects = Array.from({ length: SUBJECTS }, (_, i) => engine.subject(subjectFacts(i)));
  const a = timeAll(subjects, keys, (s, key) => engine.mayRead(s, key));
  first.push(a.ns);
  heapCaches = heapMiB() - heap0;
  const b = timeAll(subjects, keys, (s, key) => engine.mayRead(s, key));
  if (b.allowed !== a.allowed) throw new Error('cached decisions differ from the first ones');
  cached.push(b.ns);
  // The floor: one Map per subject holding the same answers, looked up the same way (on a sample of subjects, so
  // the floor's own maps do not double the heap).
  const sample = subjects.slice(0, 1000);
  const bySubject = new Map(sample.map((s) => [s, new Map(keys.map((k) => [k, engine.mayRead(s, k)]))]));
  floor.push(timeAll(sample, keys, (s, key) => bySubject.get(s)!.get(key)!).ns);
  const none = new AccessControl();
  const openSubjects = subjects.map((s) => none.subject(s.facts));
  open.push(timeAll(openSubjects, keys, (s, key) => none.mayRead(s, key)).ns);
  engine.replace(parseAcl(text, 'bench reload'));
  afterReload.push(timeAll(subjects, keys, (s, key) => engine.mayRead(s, key)).ns);
  if (round === ROUNDS - 1) {
    const allowedShare = (100 * a.allowed) / (SUBJECTS * keys.length);
    console.log(`allowed: ${allowedShare.toFixed(1)} % of the pairs`);
  }
}

const row = (what: string, xs: number[]): void => console.log(`${what.padEnd(52)} ${median(xs).toFixed(1).padStart(8)} ns of CPU`);
row('first decision per (subject, channel)', first);
row('cached decision (a wildcard delivery)', cached);
row('bare Map lookup of the same answers (floor)', floor);
row('no ACL (today)', open);
row('first decision after a reload', afterReload);
console.log(`cached / floor: ${(median(cached) / median(floor)).toFixed(2)}×`);
console.log(`heap held by the decision caches: ${heapCaches.toFixed(1)} MiB${globalThis.gc ? '' : ' (run with --expose-gc for a steadier figure)'}`);

// ---- through a whole broker -------------------------------------------------------------------------------------

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Rig {
  server: Server;
  publisher: MemoryEndpoint;
  receivers: MemoryEndpoint[];
}

/** A broker with `subscribers` in-memory receivers of channel `fan` (from 10 000 addresses) and one publisher. */
async function rig(aclText: string | null, subscribers: number): Promise<Rig> {
  const server = await startServer({
    congPort: 0,
    host: '127.0.0.1',
    log: () => undefined,
    maxConnectionsPerAddress: 0,
    maxConnections: 0,
    // The in-memory peers do not answer keepalive probes: no sweep during the run.
    timeout: 3_600_000,
    access: aclText === null ? {} : { aclText },
  });
  const cidReq = Buffer.from([MSG.CID_REQ]);
  const receivers: MemoryEndpoint[] = [];
  for (let i = 0; i < subscribers; i++) {
    const e = server.connectInMemory({ transport: 'cong', peerIp: `10.${i % 200}.${(i >> 8) & 255}.${i & 255}` });
    e.send(cidReq);
    e.send(encodeTagMessage(MSG.SUBSCRIBE, 'fan,one'));
    receivers.push(e);
  }
  const publisher = server.connectInMemory({ transport: 'cong', peerIp: '10.250.0.1' });
  publisher.send(cidReq);
  await turn();
  return { server, publisher, receivers };
}

/** Server CPU (this process: the memory links' peers do nothing) per delivery of `count` publishes to `tag`. */
async function cpuPerDelivery(r: Rig, tag: string, count: number, perTurn = 10): Promise<number> {
  const msg = encodeSignal(tag, PAYLOAD.TEXT, Buffer.from('0123456789abcdef0123456789abcdef\0'));
  const before = r.server.broker.stats.deliveries;
  // Each measurement starts from a collected heap, so one run does not pay for the garbage of another.
  globalThis.gc?.();
  const start = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    r.publisher.send(msg);
    // Let the memory links hand the turn's deliveries over, as sockets would be written once per turn.
    if (i % perTurn === perTurn - 1) await turn();
  }
  await turn();
  const used = process.cpuUsage(start);
  const delivered = r.server.broker.stats.deliveries - before;
  if (delivered === 0) throw new Error(`nothing delivered on ${tag}`);
  return ((used.user + used.system) * 1000) / delivered;
}

async function brokerBench(): Promise<void> {
  // Everyone may read and write the benchmark's channels; the 1 000 other rules are the engine bench's mix.
  const aclText = `allow any subscribe,publish fan one\n${text}`;
  const open = await rig(null, SUBSCRIBERS);
  const ruled = await rig(aclText, SUBSCRIBERS);
  // One receiver of `one` each (the rest subscribe to it too, so take a rig of one for the publish path).
  const openOne = await rig(null, 1);
  const ruledOne = await rig(aclText, 1);
  const fanOpen: number[] = [];
  const fanRuled: number[] = [];
  const pubOpen: number[] = [];
  const pubRuled: number[] = [];
  // Warm-up, then rounds in which the two servers take turns going first (drift on a shared machine falls on both);
  // the ratio is taken per round (paired) and its median reported.
  await cpuPerDelivery(open, 'fan', 10);
  await cpuPerDelivery(ruled, 'fan', 10);
  const fanRatio: number[] = [];
  const pubRatio: number[] = [];
  for (let round = 0; round < BROKER_ROUNDS; round++) {
    const pair = async (a: Rig, b: Rig, tag: string, count: number, perTurn: number, into: [number[], number[]]): Promise<number> => {
      const first = round % 2 === 0;
      const x = first ? await cpuPerDelivery(a, tag, count, perTurn) : 0;
      const y = await cpuPerDelivery(b, tag, count, perTurn);
      const x2 = first ? x : await cpuPerDelivery(a, tag, count, perTurn);
      into[0].push(x2);
      into[1].push(y);
      return y / x2;
    };
    fanRatio.push(await pair(open, ruled, 'fan', PUBLISHES, 10, [fanOpen, fanRuled]));
    pubRatio.push(await pair(openOne, ruledOne, 'one', 200_000, 1000, [pubOpen, pubRuled]));
  }
  const ns = (xs: number[]): string => `${median(xs).toFixed(1).padStart(8)} ns of CPU`;
  console.log(`\nbroker, in-memory links: ${rules.rules.length + 1} rules vs none, ${SUBSCRIBERS} receivers, ${PUBLISHES} publishes × ${BROKER_ROUNDS} rounds`);
  console.log(`${'fan-out per delivery, no ACL'.padEnd(52)} ${ns(fanOpen)}`);
  console.log(`${'fan-out per delivery, 1 000 rules'.padEnd(52)} ${ns(fanRuled)}`);
  console.log(`fan-out with rules / without, median of per-round ratios: ${median(fanRatio).toFixed(3)}× (target ≤ 1.05×; rounds ${fanRatio.map((r) => r.toFixed(2)).join(' ')})`);
  console.log(`${'publish to one receiver, no ACL'.padEnd(52)} ${ns(pubOpen)}`);
  console.log(`${'publish to one receiver, 1 000 rules'.padEnd(52)} ${ns(pubRuled)}`);
  console.log(`publish path with rules / without, median of per-round ratios: ${median(pubRatio).toFixed(3)}× (rounds ${pubRatio.map((r) => r.toFixed(2)).join(' ')})`);
  for (const r of [open, ruled, openOne, ruledOne]) await r.server.close();
}

await brokerBench();
