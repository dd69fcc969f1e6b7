// The cluster benchmark's markdown report: per-round figures reduced to medians (differences are taken within a
// round, between cells run back to back, before the median), latency percentiles over every round's samples,
// and each target of issue 10 stated as met or not met.
import os from 'node:os';
import type { Transport } from './conn.js';
import type { FanOutResult, PingPongResult } from './cluster-load.js';
import { median, quantile, sum } from './stats.js';

export interface Collected {
  fan: { cell: string; transport: Transport; round: number; r: FanOutResult }[];
  pp: { cell: string; transport: Transport; round: number; r: PingPongResult }[];
}

/** The run's settings the report shows (bench/cluster.ts adds what only the run needs). */
export interface ReportOpts {
  rounds: number;
  transports: Transport[];
  /** Publishing time per fan-out cell (after a warm-up), s. */
  seconds: number;
  /** Subscribers of the fan-out cells (split half and half over two nodes). */
  subs: number;
  /** Subscribers per node in the bus-cost cells (few, so the per-publish cost stands out). */
  small: number;
  payload: number;
  window: number;
  /** Publishes a second in the bus-cost cells (open loop, the same for both sides). */
  busRate: number;
  rate: number;
  ppSeconds: number;
}

export interface RunInfo {
  command: string;
  startedAt: Date;
  elapsedS: number;
  loadBefore: string;
  loadAfter: string;
  pinned: boolean;
}

const f = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '–');
const k = (x: number): string => (Number.isFinite(x) ? `${Math.round(x / 1000).toLocaleString('en-US')} k` : '–');
const list = (xs: number[], d = 2): string => xs.map((x) => f(x, d)).join(', ');
/** A section's heading, then the header rows of its table. */
const tableHead = (title: string, columns: string[]): string[] => [title, '', `| ${columns.join(' | ')} |`, `|${'---|'.repeat(columns.length)}`];
const verdict = (ok: boolean): string => (ok ? '**met**' : '**not met**');

export function renderReport(c: Collected, o: ReportOpts, run: RunInfo): string {
  const out: string[] = [];
  const targets: string[] = [];
  const cpu0 = os.cpus()[0]?.model ?? '?';
  out.push(`- date: ${run.startedAt.toISOString()} (${run.elapsedS.toFixed(0)} s); load average before ${run.loadBefore}, after ${run.loadAfter}`);
  out.push(`- machine: ${os.cpus().length} CPUs (${cpu0}), node ${process.version}, ${os.platform()} ${os.release()}`);
  out.push(`- pinning: ${run.pinned ? 'io-server nodes on CPU 1; load generator (the bench process) and redis-server on CPU 0 (taskset); the --workers row and its one-process reference not pinned' : 'none'}`);
  out.push(`- command: \`${run.command}\``);
  out.push(`- settings: ${o.rounds} rounds (cells alternate inside each round), ${o.payload} B payloads, fan-out ${o.subs} subscribers for ${o.seconds} s per cell (window ${o.window} publishes), bus-cost cells ${o.small} subscribers per node, ping-pong ${o.rate} round trips/s for ${o.ppSeconds} s per cell`);
  out.push('');
  const fan = (cell: string, t: Transport): { round: number; r: FanOutResult }[] => c.fan.filter((x) => x.cell === cell && x.transport === t);
  const cpu = (r: FanOutResult, node: number): number => sum(r.cpuUs[node] ?? [NaN]);

  // ---- bus cost per publish
  if (c.fan.some((x) => x.cell.startsWith('bus-'))) {
    out.push(...tableHead(`### Bus cost per publish (publisher + ${o.small} subscribers on one node, against the same with ${o.small} more subscribers on a second node; ${o.busRate.toLocaleString('en-US')} publishes/s, sent as they fall due every millisecond)`, ['transport', 'one node µs/publish', 'node A (publisher) µs/publish', 'node B µs/publish', 'bus on A', 'bus on B', 'Redis µs/publish', 'envelopes per publish', 'Redis msgs in / out per publish', 'node C (no interest) envelopes', 'publishes per cell']));
    for (const t of o.transports) {
      const single = fan('bus-single', t);
      const cluster = fan('bus-cluster', t);
      if (!single.length || !cluster.length) continue;
      const s = single.map(({ r }) => cpu(r, 0) / r.publishes);
      const rounds = cluster.map(({ round, r }) => {
        const ref = single.find((x) => x.round === round)!.r;
        const sp = cpu(ref, 0) / ref.publishes;
        return {
          a: cpu(r, 0) / r.publishes,
          b: cpu(r, 1) / r.publishes,
          busA: cpu(r, 0) / r.publishes - sp,
          busB: cpu(r, 1) / r.publishes - sp,
          redis: r.redisUs / r.publishes,
          env: r.counters[0]!.dataSent / r.publishes,
          inP: r.counters[0]!.redisIn / r.publishes,
          outP: r.counters[0]!.redisOut / r.publishes,
          cRecv: r.counters[2]!.received,
          pubs: r.publishes,
        };
      });
      const m = (g: (x: (typeof rounds)[number]) => number): number => median(rounds.map(g));
      out.push(
        `| ${t} | ${f(median(s))} | ${f(m((x) => x.a))} | ${f(m((x) => x.b))} | ${f(m((x) => x.busA))} (${list(rounds.map((x) => x.busA))}) | ${f(m((x) => x.busB))} (${list(rounds.map((x) => x.busB))}) | ${f(m((x) => x.redis))} | ${f(m((x) => x.env), 3)} | ${f(m((x) => x.inP), 3)} / ${f(m((x) => x.outP), 3)} | ${Math.max(...rounds.map((x) => x.cRecv))} | ${Math.round(m((x) => x.pubs)).toLocaleString('en-US')} |`,
      );
      const worst = Math.max(m((x) => x.busA), m((x) => x.busB));
      targets.push(`- ${t}: the bus adds ${f(m((x) => x.busA))} µs per publish on the publisher's node and ${f(m((x) => x.busB))} µs on a receiving node (target ≤ 2 µs per node) → ${verdict(worst <= 2)}`);
      const once = rounds.every((x) => Math.abs(x.env - 1) < 0.01 && x.inP <= 1.0001 && Math.abs(x.outP - x.inP) < 0.01 && x.cRecv === 0);
      targets.push(`- ${t}: a publish reaches Redis at most once (one envelope per publish, ${f(m((x) => x.inP), 3)} Redis messages per publish: the envelopes of one turn to one channel travel as one message) and only nodes with interest receive it (${f(m((x) => x.outP), 3)} out per publish = one receiver per Redis message, node B: with a single interested node the envelope goes to that node's channel, so no echo comes back; node C, without subscribers, received ${Math.max(...rounds.map((x) => x.cRecv))}) → ${verdict(once)}`);
    }
    out.push('');
    out.push('"bus on A/B" = that node\'s CPU per publish minus the one node\'s, within the same round (median, then each round). The one node serves the publisher and its subscribers; node A the same plus the bus; node B serves its subscribers from the bus instead of from a local publisher. Redis msgs from node A\'s counters; node C\'s from its own.');
    out.push('');
  }

  // ---- fan-out
  if (c.fan.some((x) => x.cell.startsWith('fan-'))) {
    const half = Math.floor(o.subs / 2);
    out.push(...tableHead(`### Fan-out: one publisher, ${o.subs} subscribers, ${o.payload} B`, ['transport', 'setup', 'deliveries/s', 'µs/delivery: node A (or the one node)', 'node B', 'both', 'Redis µs/publish', 'Redis msgs in / out per publish', 'node C envelopes', 'lost']));
    for (const t of o.transports) {
      const one = fan('fan-single', t);
      const halfCells = fan('fan-half', t);
      const cl = fan('fan-cluster', t);
      if (!one.length || !cl.length || !halfCells.length) continue;
      const row = (label: string, cells: { r: FanOutResult }[], nodes: number[]): void => {
        const rate = median(cells.map(({ r }) => r.deliveries / r.seconds));
        const per = nodes.map((n, i) => median(cells.map(({ r }) => cpu(r, i) / (r.publishes * n))));
        const both = median(cells.map(({ r }) => sum(nodes.map((_, i) => cpu(r, i))) / r.deliveries));
        const lost = Math.max(...cells.map(({ r }) => r.lost));
        const cluster = nodes.length > 1;
        const redis = cluster ? f(median(cells.map(({ r }) => r.redisUs / r.publishes))) : '–';
        const msgs = cluster
          ? `${f(median(cells.map(({ r }) => r.counters[0]!.redisIn / r.publishes)), 3)} / ${f(median(cells.map(({ r }) => r.counters[0]!.redisOut / r.publishes)), 3)}`
          : '–';
        const cRecv = cluster ? String(Math.max(...cells.map(({ r }) => r.counters[2]!.received))) : '–';
        out.push(`| ${t} | ${label} | ${k(rate)} | ${f(per[0]!, 3)} | ${cluster ? f(per[1]!, 3) : '–'} | ${f(both, 3)} | ${redis} | ${msgs} | ${cRecv} | ${lost} |`);
      };
      row(`one node, ${o.subs} subscribers`, one, [o.subs]);
      row(`one node, ${half} subscribers`, halfCells, [half]);
      row(`two nodes, ${half} + ${o.subs - half}`, cl, [half, o.subs - half]);
      const per = cl.map(({ round, r }) => {
        const ref = halfCells.find((x) => x.round === round)!.r;
        const refUs = cpu(ref, 0) / ref.deliveries;
        return { a: cpu(r, 0) / (r.publishes * half) - refUs, b: cpu(r, 1) / (r.publishes * (o.subs - half)) - refUs };
      });
      const busA = median(per.map((x) => x.a));
      const busB = median(per.map((x) => x.b));
      targets.push(`- ${t}: the bus adds ${f(busB, 3)} µs per delivery on the receiving node (rounds: ${list(per.map((x) => x.b), 3)}) and ${f(busA, 3)} µs on the publisher's node (${list(per.map((x) => x.a), 3)}), against one node with the same ${half} subscribers (target ≤ 0.1 µs) → ${verdict(Math.max(busA, busB) <= 0.1)}`);
      const ratio = median(cl.map(({ round, r }) => {
        const ref = one.find((x) => x.round === round)!.r;
        return r.deliveries / r.seconds / (ref.deliveries / ref.seconds);
      }));
      targets.push(`- ${t}: cross-node fan-out runs at ${f(ratio)}× the deliveries/s of one node with all ${o.subs} subscribers (no target; the load generator shares CPU 0 with Redis)`);
    }
    out.push('');
  }

  // ---- ping-pong
  if (c.pp.length) {
    type Cells = { round: number; r: PingPongResult }[];
    /** One node against cross-node on transport `t`: the pooled round trips of both, their p50 ratio, losses. */
    const compare = (t: Transport, oneCell: string, twoCell: string) => {
      const cells = (cell: string): Cells => c.pp.filter((x) => x.cell === cell && x.transport === t);
      const one = cells(oneCell);
      const two = cells(twoCell);
      if (!one.length || !two.length) return null;
      const pooled = (xs: Cells): number[] => xs.flatMap(({ r }) => r.rtts).sort((a, b) => a - b);
      const p1 = pooled(one);
      const p2 = pooled(two);
      const ratio = quantile(p2, 0.5) / quantile(p1, 0.5);
      const lost = sum([...one, ...two].map(({ r }) => r.lost));
      const cells50 = `${f(quantile(p1, 0.5), 0)} µs / ${f(quantile(p1, 0.99), 0)} µs | ${f(quantile(p2, 0.5), 0)} µs / ${f(quantile(p2, 0.99), 0)} µs | ${f(ratio)}×`;
      const counts = `${p1.length.toLocaleString('en-US')} + ${p2.length.toLocaleString('en-US')} | ${lost}`;
      return { one, two, p1, p2, ratio, cells50, counts };
    };
    out.push(...tableHead(`### Unicast ping-pong at ${o.rate} round trips/s (\`cid@ping\` / \`cid@pong\`)`, ['transport', 'one node p50 / p99', 'two nodes (cross-node) p50 / p99', 'p50 ratio', 'p50 per round: one node / two nodes (µs)', 'round trips', 'lost']));
    for (const t of o.transports) {
      const x = compare(t, 'pp-single', 'pp-cluster');
      if (!x) continue;
      const roundP50 = (xs: Cells): number[] => xs.map(({ r }) => quantile([...r.rtts].sort((a, b) => a - b), 0.5));
      out.push(`| ${t} | ${x.cells50} | ${list(roundP50(x.one), 0)} / ${list(roundP50(x.two), 0)} | ${x.counts} |`);
      targets.push(`- ${t}: cross-node ping-pong p50 ${f(quantile(x.p2, 0.5), 0)} µs = ${f(x.ratio)}× one node's ${f(quantile(x.p1, 0.5), 0)} µs (target ≤ 2×) → ${verdict(x.ratio <= 2)}`);
    }
    out.push('');
    out.push(...tableHead('Over the in-memory bus: two nodes in one process on a memory hub (no Redis), the same process for both sides', ['transport', 'one node p50 / p99', 'cross-node p50 / p99', 'p50 ratio', 'server CPU µs per round trip: one node / cross-node', 'CPU ratio', 'round trips', 'lost']));
    for (const t of o.transports) {
      const x = compare(t, 'pp-mem-one', 'pp-mem-cross');
      if (!x) continue;
      const cpuPer = (xs: Cells): number => median(xs.map(({ r }) => (r.cpuUs ?? NaN) / Math.max(1, r.rtts.length)));
      const cpuRatio = cpuPer(x.two) / cpuPer(x.one);
      out.push(`| ${t} | ${x.cells50} | ${f(cpuPer(x.one), 1)} / ${f(cpuPer(x.two), 1)} | ${f(cpuRatio)}× | ${x.counts} |`);
      targets.push(`- ${t}: cross-node ping-pong over the in-memory bus p50 ${f(quantile(x.p2, 0.5), 0)} µs = ${f(x.ratio)}× one node's ${f(quantile(x.p1, 0.5), 0)} µs (target ≤ 1.2×) → ${verdict(x.ratio <= 1.2)}; server CPU per round trip ${f(cpuRatio)}×`);
    }
    const floor = c.pp.filter((x) => x.cell === 'pp-redis');
    if (floor.length) {
      const all = floor.flatMap(({ r }) => r.rtts).sort((a, b) => a - b);
      out.push('');
      out.push(
        `Redis floor: the bench process publishing 40 B to an echo process (ioredis alone, on CPU 1) and back — two Redis pub/sub hops, the least a cross-node round trip adds — p50 ${f(quantile(all, 0.5), 0)} µs, p99 ${f(quantile(all, 0.99), 0)} µs (${all.length.toLocaleString('en-US')} round trips; per round ${list(floor.map(({ r }) => quantile([...r.rtts].sort((a, b) => a - b), 0.5)), 0)}).`,
      );
    }
    out.push('');
  }

  // ---- workers
  if (c.fan.some((x) => x.cell.startsWith('workers-'))) {
    out.push(...tableHead(`### \`--workers 2\` against one process (fan-out, ${o.subs} subscribers, not pinned)`, ['transport', 'setup', 'deliveries/s', 'server µs/delivery (all processes)', 'CPU % of a core per process', 'Redis µs/publish']));
    for (const t of o.transports) {
      const one = fan('workers-one', t);
      const two = fan('workers-two', t);
      if (!one.length || !two.length) continue;
      const row = (label: string, cells: { r: FanOutResult }[], names: (n: number) => string): void => {
        const rate = median(cells.map(({ r }) => r.deliveries / r.seconds));
        const us = median(cells.map(({ r }) => cpu(r, 0) / r.deliveries));
        const pids = cells[0]!.r.cpuUs[0]!.length;
        const pct = Array.from({ length: pids }, (_, i) => `${names(i)} ${f(median(cells.map(({ r }) => r.cpuUs[0]![i]! / r.seconds / 1e4)), 0)} %`).join(', ');
        out.push(`| ${t} | ${label} | ${k(rate)} | ${f(us, 3)} | ${pct} | ${label === '--workers 2' ? f(median(cells.map(({ r }) => r.redisUs / r.publishes))) : '–'} |`);
      };
      const ipc = fan('workers-ipc', t);
      row('one process', one, () => 'process');
      row('--workers 2', two, (i) => (i === 0 ? 'primary' : `worker ${i - 1}`));
      if (ipc.length) row('--workers 2, no Redis (IPC)', ipc, (i) => (i === 0 ? 'primary' : `worker ${i - 1}`));
      for (const [label, cells] of [['`--workers 2`', two], ['`--workers 2` without Redis (IPC)', ipc]] as const) {
        if (!cells.length) continue;
        const ratios = cells.map(({ round, r }) => {
          const ref = one.find((x) => x.round === round)!.r;
          return cpu(r, 0) / r.deliveries / (cpu(ref, 0) / ref.deliveries);
        });
        const ratio = median(ratios);
        const rates = median(cells.map(({ round, r }) => r.deliveries / r.seconds / (one.find((x) => x.round === round)!.r.deliveries / one.find((x) => x.round === round)!.r.seconds)));
        const workerPct = (i: number): number => median(cells.map(({ r }) => (r.cpuUs[0]![i] ?? NaN) / r.seconds / 1e4));
        const both = workerPct(1) >= 20 && workerPct(2) >= 20;
        targets.push(
          `- ${t}: ${label} spends ${f(ratio)}× the server CPU per delivery of one process (rounds: ${list(ratios)}; target ≤ 1.2×) → ${verdict(ratio <= 1.2)}; ` +
            `delivers ${f(rates)}× one process's deliveries/s (two cores should deliver more than one) → ${verdict(rates > 1)}; both cores in use (workers at ${f(workerPct(1), 0)} % and ${f(workerPct(2), 0)} % of a core; counted as in use from 20 %) → ${verdict(both)}`,
        );
      }
    }
    out.push('');
    out.push('The `--workers 2` CPU is the primary plus both workers (found as the primary\'s child processes); subscribers and the publisher land on the workers as the kernel (WebSocket, SO_REUSEPORT) or node:cluster (CongSocket) hands them out, and what crosses between the workers goes through Redis (`--workers 2`) or through the primary over IPC (no Redis).');
    out.push('');
  }
  if (targets.length) {
    out.push('### Targets of issues 10 and 17');
    out.push('');
    out.push(...targets);
    out.push('');
  }
  return out.join('\n');
}
