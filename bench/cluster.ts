// Cluster benchmark (issue 10): every target of the issue, side by side in one run, in alternating rounds.
//   npm run build && node dist/bench/cluster.js [--quick] [--rounds 3] [--transport cong,ws] [--parts bus,fanout,pingpong,workers]
// See bench/README.md ("Cluster") for what each part measures and how the processes are pinned.
import { eachFlag, list } from './lib/flags.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';
import type { Transport } from './lib/conn.js';
import type { ChildProcess } from 'node:child_process';
import { nodeFlags, serverRoot, startMemoryPair, startNode, startRedis, startRedisEcho, stopNode, type NodeProc, type Redis } from './lib/cluster-procs.js';
import { fanOut, pingPong, redisRoundTrip, type FanOutPlan, type FanOutResult, type PingPongResult } from './lib/cluster-load.js';
import { hasTaskset, killAll, pinSelf, REPO_ROOT } from './lib/procs.js';
import { renderReport, type Collected, type ReportOpts } from './lib/cluster-report.js';

export type Part = 'bus' | 'fanout' | 'pingpong' | 'workers';

export interface Opts extends ReportOpts {
  parts: Part[];
  warmup: number;
  pin: boolean;
  out: string;
}

function parseArgs(argv: string[]): Opts {
  const quick = argv.includes('--quick');
  const o: Opts = {
    rounds: quick ? 1 : 3,
    transports: ['cong', 'ws'],
    parts: ['bus', 'fanout', 'pingpong', 'workers'],
    seconds: quick ? 1 : 3,
    warmup: quick ? 0.3 : 0.5,
    subs: quick ? 200 : 1000,
    small: 10,
    payload: 64,
    window: 32,
    busRate: 10_000,
    rate: 1000,
    ppSeconds: quick ? 2 : 5,
    pin: true,
    out: REPO_ROOT + 'bench/results/cluster.md',
  };
  eachFlag(argv, (a, v) => {
    switch (a) {
      case '--quick': break;
      case '--rounds': o.rounds = Number(v()); break;
      case '--transport': case '--transports': o.transports = list(v()) as Transport[]; break;
      case '--parts': o.parts = list(v()) as Part[]; break;
      case '--seconds': o.seconds = Number(v()); break;
      case '--warmup': o.warmup = Number(v()); break;
      case '--subs': o.subs = Number(v()); break;
      case '--small': o.small = Number(v()); break;
      case '--payload': o.payload = Number(v()); break;
      case '--window': o.window = Number(v()); break;
      case '--rate': o.rate = Number(v()); break;
      case '--bus-rate': o.busRate = Number(v()); break;
      case '--pp-seconds': o.ppSeconds = Number(v()); break;
      case '--no-pin': o.pin = false; break;
      case '--node-flags': nodeFlags.push(...v().split(' ').filter(Boolean)); break;
      case '--root': serverRoot.dir = v(); break;
      case '--out': o.out = v(); break;
      default: throw new Error(`unknown flag ${a} (see bench/README.md)`);
    }
  });
  for (const t of o.transports) if (t !== 'ws' && t !== 'cong') throw new Error(`unknown transport ${t}`);
  for (const p of o.parts) if (!['bus', 'fanout', 'pingpong', 'workers'].includes(p)) throw new Error(`unknown part ${p}`);
  return o;
}

/** Nodes on CPU 1; the load generator (this process) and Redis on CPU 0. The workers row floats. */
const CPU_NODES = '1';
const CPU_LOAD = '0';

interface Procs {
  redis: Redis;
  single: NodeProc;
  a: NodeProc;
  b: NodeProc;
  /** A third cluster node with no subscribers: it must receive nothing. */
  c: NodeProc;
  /** One process and `--workers 2` (over Redis, and through the primary without Redis), none pinned. */
  free: NodeProc | null;
  workers: NodeProc | null;
  workersIpc: NodeProc | null;
  /** Two nodes in one process on a memory hub (ping-pong over the in-memory bus). */
  memory: [NodeProc, NodeProc] | null;
  /** Republishes `bench:ping` to `bench:pong` with ioredis alone: the floor of two Redis hops. */
  echo: ChildProcess | null;
}

async function startAll(o: Opts): Promise<Procs> {
  const pin = o.pin && hasTaskset();
  const nodes = pin ? CPU_NODES : undefined;
  const redis = await startRedis(pin ? CPU_LOAD : undefined);
  const cluster = (id: string): string[] => ['--cluster', redis.url, '--cluster-mode', 'standalone', '--node-id', id];
  const [single, a, b, c] = await Promise.all([
    startNode('single', nodes, []),
    startNode('A', nodes, cluster('A')),
    startNode('B', nodes, cluster('B')),
    startNode('C', nodes, cluster('C')),
  ]);
  const wantWorkers = o.parts.includes('workers');
  // Children inherit this process's affinity (CPU 0), so "not pinned" must be said explicitly: every CPU.
  const anyCpu = pin ? `0-${os.cpus().length - 1}` : undefined;
  const free = wantWorkers ? await startNode('one process', anyCpu, []) : null;
  const workers = wantWorkers
    ? await startNode('--workers 2', anyCpu, ['--cluster', redis.url, '--cluster-mode', 'standalone', '--cluster-prefix', 'iosigwk', '--node-id', 'W', '--workers', '2'], 2)
    : null;
  const workersIpc = wantWorkers ? await startNode('--workers 2 (IPC)', anyCpu, ['--workers', '2'], 2) : null;
  const echo = o.parts.includes('pingpong') ? await startRedisEcho(nodes, redis.url, 'bench:ping', 'bench:pong') : null;
  const memory = o.parts.includes('pingpong') ? await startMemoryPair(nodes) : null;
  return { redis, single, a, b, c, free, workers, workersIpc, memory, echo };
}

async function stopAll(p: Procs): Promise<void> {
  await Promise.all([p.single, p.a, p.b, p.c, p.free, p.workers, p.workersIpc, p.memory?.[0] ?? null].filter((n): n is NodeProc => n !== null).map(stopNode));
  p.echo?.kill('SIGTERM');
  p.redis.stop();
}

async function runRound(o: Opts, p: Procs, round: number, transport: Transport, into: Collected): Promise<void> {
  const base = { transport, payload: o.payload, warmupS: o.warmup, seconds: o.seconds, window: o.window };
  const tag = (name: string): string => `${name}_${transport}_${round}`;
  const fan = async (cell: string, plan: Omit<FanOutPlan, keyof typeof base | 'tag'>): Promise<void> => {
    const r: FanOutResult = await fanOut({ ...base, ...plan, tag: tag(cell) });
    into.fan.push({ cell, transport, round, r });
    log(`  ${cell}/${transport}: ${r.publishes} publishes, ${Math.round(r.deliveries / r.seconds)} deliveries/s, lost ${r.lost}`);
  };
  // Alternate which side of a comparison goes first, so a drift of the host's load does not favour one.
  const order = <T>(pair: T[]): T[] => (round % 2 ? pair : [...pair].reverse());
  const half = Math.floor(o.subs / 2);
  const none = { measured: [] as NodeProc[], redisPid: null, counted: [] as NodeProc[] };
  if (o.parts.includes('bus')) {
    for (const cell of order(['bus-single', 'bus-cluster'])) {
      const rate = o.busRate;
      if (cell === 'bus-single') await fan(cell, { ...none, subscribers: [{ node: p.single, n: o.small }], publisher: p.single, measured: [p.single], rate });
      else await fan(cell, { subscribers: [{ node: p.a, n: o.small }, { node: p.b, n: o.small }], publisher: p.a, measured: [p.a, p.b, p.c], redisPid: p.redis.pid, counted: [p.a, p.b, p.c], rate });
    }
  }
  if (o.parts.includes('fanout')) {
    for (const cell of order(['fan-single', 'fan-half', 'fan-cluster'])) {
      if (cell === 'fan-single') await fan(cell, { ...none, subscribers: [{ node: p.single, n: o.subs }], publisher: p.single, measured: [p.single] });
      else if (cell === 'fan-half') await fan(cell, { ...none, subscribers: [{ node: p.single, n: half }], publisher: p.single, measured: [p.single] });
      else await fan(cell, { subscribers: [{ node: p.a, n: half }, { node: p.b, n: o.subs - half }], publisher: p.a, measured: [p.a, p.b, p.c], redisPid: p.redis.pid, counted: [p.a, p.b, p.c] });
    }
  }
  if (o.parts.includes('workers') && p.free && p.workers && p.workersIpc) {
    const nodes: Record<string, NodeProc> = { 'workers-one': p.free, 'workers-two': p.workers, 'workers-ipc': p.workersIpc };
    const cells = ['workers-one', 'workers-two', 'workers-ipc'];
    for (const cell of round % 2 ? cells : [...cells].reverse()) {
      const node = nodes[cell]!;
      await fan(cell, { ...none, subscribers: [{ node, n: o.subs }], publisher: node, measured: [node], redisPid: cell === 'workers-two' ? p.redis.pid : null });
    }
  }
  if (o.parts.includes('pingpong')) {
    const [mA, mB] = p.memory!;
    const ends: Record<string, [NodeProc, NodeProc]> = { 'pp-single': [p.single, p.single], 'pp-cluster': [p.a, p.b], 'pp-mem-one': [mA, mA], 'pp-mem-cross': [mA, mB] };
    const cells = ['pp-single', 'pp-cluster', 'pp-mem-one', 'pp-mem-cross'];
    for (const cell of round % 2 ? cells : [...cells].reverse()) {
      const [from, to] = ends[cell]!;
      const cpuOf = cell.startsWith('pp-mem') ? [mA] : cell === 'pp-single' ? [p.single] : [p.a, p.b];
      const r: PingPongResult = await pingPong({ transport, from, to, rate: o.rate, warmupS: o.warmup, seconds: o.ppSeconds, cpuOf });
      into.pp.push({ cell, transport, round, r });
      const sorted = [...r.rtts].sort((x, y) => x - y);
      log(`  ${cell}/${transport}: ${r.rtts.length} round trips, p50 ${Math.round(sorted[sorted.length >> 1] ?? NaN)} µs, lost ${r.lost}`);
    }
    if (transport === o.transports[0]) {
      const r = await redisRoundTrip(p.redis.url, 'bench:ping', 'bench:pong', o.rate, o.warmup, o.ppSeconds);
      into.pp.push({ cell: 'pp-redis', transport, round, r });
      const sorted = [...r.rtts].sort((x, y) => x - y);
      log(`  pp-redis: ${r.rtts.length} round trips through Redis alone, p50 ${Math.round(sorted[sorted.length >> 1] ?? NaN)} µs`);
    }
  }
}

const log = (line: string): void => console.error(line);

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o = parseArgs(argv);
  if (o.pin) pinSelf(CPU_LOAD);
  const startedAt = new Date();
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  log(`cluster bench: ${o.rounds} rounds × ${o.transports.join(',')} × ${o.parts.join(',')}${o.pin && hasTaskset() ? ' (nodes on CPU 1, load + Redis on CPU 0)' : ' (not pinned)'}`);
  const procs = await startAll(o);
  const collected: Collected = { fan: [], pp: [] };
  try {
    for (let round = 1; round <= o.rounds; round++) {
      for (const transport of o.transports) {
        log(`round ${round}/${o.rounds}, ${transport}`);
        await runRound(o, procs, round, transport, collected);
      }
    }
  } finally {
    await stopAll(procs);
  }
  const report = renderReport(collected, o, {
    command: `node dist/bench/cluster.js${argv.length ? ' ' + argv.join(' ') : ''}`,
    startedAt,
    elapsedS: (Date.now() - startedAt.getTime()) / 1000,
    loadBefore: load,
    loadAfter: os.loadavg().map((x) => x.toFixed(2)).join(' '),
    pinned: o.pin && hasTaskset(),
  });
  console.log(report);
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, report + '\n');
  writeFileSync(o.out.replace(/\.md$/, '') + '.json', JSON.stringify({ opts: o, collected }, (_k, v) => (v instanceof Set ? [...v] : v)));
  log(`written to ${o.out}`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    killAll();
    setTimeout(() => process.exit(), 200).unref();
  });
