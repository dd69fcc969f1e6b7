// iosig benchmark runner. See bench/README.md.
//
//   npm run bench -- [--quick] [--servers iosig,iosignal,ceiling] [--scenarios fanout,pingpong,storm]
//                    [--transport ws,cong] [--duration s] [--warmup s] [--rounds n] [--subs n]
//                    [--conns n] [--pairs n] [--payloads 64,1024] [--workers n] [--fan-workers n] [--pp-workers n] [--window msgs]
//                    [--ws-client raw|wslib] [--iosig launcher|cli] [--no-pin] [--out file]
//
// Every measurement cell starts a fresh server process (pinned to CPU 1) and
// fresh load-generator processes (pinned to CPU 0), and kills them afterwards.
import { eachFlag, list } from './lib/flags.js';
import { median, quantile, sum } from './lib/stats.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';
import type { Transport, WsClientKind } from './lib/conn.js';
import {
  REPO_ROOT, WorkerProc, hasTaskset, killAll, pinSelf, procCpuUs, procRssBytes, sleep, startServer,
  type ServerKind, type ServerProc,
} from './lib/procs.js';
import type { WorkerReply } from './worker.js';

type Scenario = 'fanout' | 'pingpong' | 'storm';

interface Opts {
  servers: ServerKind[];
  scenarios: Scenario[];
  transports: Transport[];
  duration: number;
  warmup: number;
  rounds: number;
  subs: number;
  conns: number;
  pairs: number;
  payloads: number[];
  pingPayload: number;
  workers: number;
  ppWorkers: number;
  fanWorkers: number;
  window: number;
  wsClient: WsClientKind;
  iosigMode: 'launcher' | 'cli';
  baseRoot: string | undefined;
  pin: boolean;
  quick: boolean;
  out: string;
}

function parseArgs(argv: string[]): Opts {
  const quick = argv.includes('--quick');
  const o: Opts = {
    servers: ['iosig', 'iosignal', 'ceiling'],
    scenarios: ['fanout', 'pingpong', 'storm'],
    transports: ['ws', 'cong'],
    duration: quick ? 1.5 : 5,
    warmup: quick ? 0.5 : 1,
    rounds: quick ? 1 : 3,
    subs: quick ? 200 : 1000,
    conns: quick ? 1000 : 10000,
    pairs: quick ? 20 : 100,
    payloads: [64, 1024],
    pingPayload: 64,
    workers: 2,
    ppWorkers: 1,
    fanWorkers: 1,
    window: 32,
    wsClient: 'raw',
    iosigMode: 'launcher',
    baseRoot: undefined,
    pin: true,
    quick,
    out: REPO_ROOT + 'bench/results/latest.md',
  };
  eachFlag(argv, (a, v) => {
    switch (a) {
      case '--quick': break;
      case '--servers': o.servers = list(v()) as ServerKind[]; break;
      case '--scenarios': o.scenarios = list(v()) as Scenario[]; break;
      case '--transport': case '--transports': o.transports = list(v()) as Transport[]; break;
      case '--duration': o.duration = Number(v()); break;
      case '--warmup': o.warmup = Number(v()); break;
      case '--rounds': o.rounds = Number(v()); break;
      case '--subs': o.subs = Number(v()); break;
      case '--conns': o.conns = Number(v()); break;
      case '--pairs': o.pairs = Number(v()); break;
      case '--payloads': o.payloads = list(v()).map(Number); break;
      case '--workers': o.workers = Math.max(1, Number(v())); break;
      case '--fan-workers': o.fanWorkers = Math.max(1, Number(v())); break;
      case '--pp-workers': o.ppWorkers = Math.max(1, Number(v())); break;
      case '--window': o.window = Math.max(1, Number(v())); break;
      case '--ws-client': o.wsClient = v() as WsClientKind; break;
      case '--iosig': o.iosigMode = v() as 'launcher' | 'cli'; break;
      case '--base': o.baseRoot = v(); break;
      case '--no-pin': o.pin = false; break;
      case '--out': o.out = v(); break;
      // biome-ignore lint/suspicious/noFallthroughSwitchClause: process.exit does not return
      case '-h': case '--help':
        console.log('see bench/README.md'); process.exit(0);
      default: throw new Error(`unknown flag ${a}`);
    }
  });
  for (const s of o.servers) if (!['iosig', 'iosig-nohttp', 'iosig-base', 'iosignal', 'ceiling'].includes(s)) throw new Error(`unknown server ${s}`);
  for (const s of o.scenarios) if (!['fanout', 'pingpong', 'storm'].includes(s)) throw new Error(`unknown scenario ${s}`);
  for (const t of o.transports) if (t !== 'ws' && t !== 'cong') throw new Error(`unknown transport ${t}`);
  return o;
}

// ---------------------------------------------------------------- results

interface CellResult {
  scenario: Scenario;
  transport: Transport;
  payload: number;
  server: ServerKind;
  round: number;
  error?: string;
  rate?: number;         // deliveries/s, round trips/s or connections/s
  serverUsPerOp?: number;
  serverCpuPct?: number; // % of one core
  clientCpuPct?: number; // % of one core, all generator processes together
  clientUsPerOp?: number;
  latP50?: number;       // ms
  latP99?: number;
  rssPerConn?: number;   // bytes
  rssBefore?: number;
  rssAfter?: number;
  lost?: number;         // fan-out messages not delivered (after drain)
  stalls?: number;
  failed?: number;
  note?: string;
}

const CPU_SERVER = '1';
const CPU_GEN = '0';

/** Results keep `undefined` for "no figure" (NaN from an empty list). */
const figure = (x: number): number | undefined => (Number.isNaN(x) ? undefined : x);

type Snap = Extract<WorkerReply, { t: 'snap' }>;
let snapId = 0;
async function snapAll(ws: WorkerProc[], timeoutMs = 5000): Promise<Snap[]> {
  const id = ++snapId;
  return (await Promise.all(ws.map((w) => w.request({ t: 'snap', id }, timeoutMs)))) as Snap[];
}

function split(n: number, parts: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < parts; i++) out.push(Math.floor(n / parts) + (i < n % parts ? 1 : 0));
  return out.filter((x) => x > 0);
}

/** Throws if the server process died. */
function checkAlive(srv: ServerProc): void {
  if (srv.exited) {
    throw new Error(`server exited (code ${srv.exited.code}, signal ${srv.exited.signal})${srv.tail.length ? ': ' + srv.tail.slice(-3).join(' | ') : ''}`);
  }
}

/** Sleeps `ms`, failing early if the server dies. */
async function watch(srv: ServerProc, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    checkAlive(srv);
    await sleep(Math.min(100, end - Date.now()));
  }
  checkAlive(srv);
}

// ---------------------------------------------------------------- scenarios

async function runFanout(o: Opts, srv: ServerProc, transport: Transport, payload: number, r: CellResult, workers: WorkerProc[]): Promise<void> {
  const port = transport === 'ws' ? srv.wsPort : srv.congPort;
  const tag = 'fanout';
  const window = o.window;
  const counts = split(o.subs, o.fanWorkers);
  const subWorkers = counts.map(() => new WorkerProc(o.pin ? CPU_GEN : undefined));
  // One generator process: the publisher sits beside the subscribers and reads
  // their minimum directly. Several: the publisher gets its own process and the
  // runner relays the minimum over IPC.
  const localMin = subWorkers.length === 1;
  const pub = localMin ? subWorkers[0]! : new WorkerProc(o.pin ? CPU_GEN : undefined);
  workers.push(...subWorkers);
  if (!localMin) workers.push(pub);

  const mins = counts.map(() => 0);
  let globalMin = 0;
  let lastProgress = Date.now();
  subWorkers.forEach((w, i) => {
    w.onMin = (v): void => {
      mins[i] = v;
      const g = Math.min(...mins);
      if (g !== globalMin) { globalMin = g; lastProgress = Date.now(); if (!localMin) pub.send({ t: 'min', v: g }); }
    };
  });
  const setupMs = 60000 + o.subs * 20;
  await Promise.all(subWorkers.map((w, i) => w.request({
    t: 'subs', transport, port, wsClient: o.wsClient, n: counts[i]!, tag, concurrency: 64,
  }, setupMs)));
  await pub.request({ t: 'pub', transport, port, wsClient: o.wsClient, tag, payload, window, localMin }, 20000);
  await sleep(200); // let the last SUBSCRIBEs land
  checkAlive(srv);

  let stalls = 0;
  const stallTimer = setInterval(() => {
    if (Date.now() - lastProgress > 1000) { stalls++; lastProgress = Date.now(); pub.send({ t: 'forgive' }); }
  }, 100);
  try {
    pub.send({ t: 'go' });
    await watch(srv, o.warmup * 1000);
    const all = localMin ? subWorkers : [...subWorkers, pub];
    const c0 = procCpuUs(srv.pid); const t0 = performance.now(); const s0 = await snapAll(all);
    await watch(srv, o.duration * 1000);
    const c1 = procCpuUs(srv.pid); const t1 = performance.now(); const s1 = await snapAll(all);
    await pub.request({ t: 'stop' }, 5000);
    const dt = (t1 - t0) / 1000;
    const dRecv = sum(s1.map((s) => s.recv)) - sum(s0.map((s) => s.recv));
    const dCli = sum(s1.map((s) => s.cpuUs)) - sum(s0.map((s) => s.cpuUs));
    r.rate = dRecv / dt;
    r.serverUsPerOp = (c1 - c0) / dRecv;
    r.serverCpuPct = ((c1 - c0) / 1e6 / dt) * 100;
    r.clientCpuPct = (dCli / 1e6 / dt) * 100;
    r.clientUsPerOp = dCli / dRecv;
    // Drain, then count what never arrived.
    const drainEnd = Date.now() + 3000;
    let s2 = await snapAll(all);
    const sent = (): number => s2[s2.length - 1]!.sent;
    while (Date.now() < drainEnd && sum(s2.map((s) => s.recv)) < sent() * o.subs) {
      await sleep(100);
      s2 = await snapAll(all);
    }
    r.lost = sent() * o.subs - sum(s2.map((s) => s.recv));
    r.stalls = stalls;
    const closed = sum(s2.map((s) => s.closed));
    if (closed > 0) r.note = `${closed} client connections closed by the server`;
  } finally {
    clearInterval(stallTimer);
  }
}

async function runPingpong(o: Opts, srv: ServerProc, transport: Transport, r: CellResult, workers: WorkerProc[]): Promise<void> {
  const port = transport === 'ws' ? srv.wsPort : srv.congPort;
  const counts = split(o.pairs, o.ppWorkers);
  const ws = counts.map(() => new WorkerProc(o.pin ? CPU_GEN : undefined));
  workers.push(...ws);
  await Promise.all(ws.map((w, i) => w.request({
    t: 'pairs', transport, port, wsClient: o.wsClient, n: counts[i]!, prefix: `pp${i}_`, payload: o.pingPayload, concurrency: 32,
  }, 60000)));
  await sleep(200);
  checkAlive(srv);
  for (const w of ws) w.send({ t: 'go' });
  await watch(srv, o.warmup * 1000);
  const c0 = procCpuUs(srv.pid); const t0 = performance.now(); const s0 = await snapAll(ws);
  await watch(srv, o.duration * 1000);
  const c1 = procCpuUs(srv.pid); const t1 = performance.now(); const s1 = await snapAll(ws);
  await Promise.all(ws.map((w) => w.request({ t: 'stop' }, 5000)));
  const dt = (t1 - t0) / 1000;
  const d = sum(s1.map((s) => s.rtts)) - sum(s0.map((s) => s.rtts));
  const dCli = sum(s1.map((s) => s.cpuUs)) - sum(s0.map((s) => s.cpuUs));
  const lat = s1.flatMap((s) => s.lat);
  r.rate = d / dt;
  r.serverUsPerOp = (c1 - c0) / d;
  r.serverCpuPct = ((c1 - c0) / 1e6 / dt) * 100;
  r.clientCpuPct = (dCli / 1e6 / dt) * 100;
  r.clientUsPerOp = dCli / d;
  const sorted = [...lat].sort((a, b) => a - b);
  r.latP50 = figure(quantile(sorted, 0.5));
  r.latP99 = figure(quantile(sorted, 0.99));
  if (d === 0) r.error = 'no round trips completed';
  const closed = sum(s1.map((s) => s.closed));
  if (closed > 0) r.note = `${closed} client connections closed by the server`;
}

async function runStorm(o: Opts, srv: ServerProc, transport: Transport, r: CellResult, workers: WorkerProc[]): Promise<void> {
  const port = transport === 'ws' ? srv.wsPort : srv.congPort;
  const counts = split(o.conns, o.workers);
  const ws = counts.map(() => new WorkerProc(o.pin ? CPU_GEN : undefined));
  workers.push(...ws);
  await sleep(500); // workers start up; server settles
  checkAlive(srv);
  await collectGarbage(srv);
  const rss0 = procRssBytes(srv.pid);
  const c0 = procCpuUs(srv.pid); const t0 = performance.now();
  const s0 = await snapAll(ws);
  const replies = await Promise.all(ws.map((w, i) => w.request({
    t: 'storm', transport, port, wsClient: o.wsClient, n: counts[i]!, concurrency: Math.max(1, Math.floor(256 / ws.length)),
  }, 120000)));
  const t1 = performance.now(); const c1 = procCpuUs(srv.pid);
  const s1 = await snapAll(ws, 30000);
  await watch(srv, 1000); // let the server settle before reading RSS
  await collectGarbage(srv);
  const rss1 = procRssBytes(srv.pid);
  const failed = sum(replies.map((x) => (x.t === 'ok' ? x.failed ?? 0 : 0)));
  const errs = replies.map((x) => (x.t === 'ok' ? x.err : undefined)).filter(Boolean);
  const s2 = await snapAll(ws, 30000);
  const closed = sum(s2.map((s) => s.closed));
  const okConns = o.conns - failed;
  const dt = (t1 - t0) / 1000;
  const dCli = sum(s1.map((s) => s.cpuUs)) - sum(s0.map((s) => s.cpuUs));
  r.rate = okConns / dt;
  r.serverUsPerOp = (c1 - c0) / okConns;
  r.serverCpuPct = ((c1 - c0) / 1e6 / dt) * 100;
  r.clientCpuPct = (dCli / 1e6 / dt) * 100;
  r.clientUsPerOp = dCli / okConns;
  r.rssBefore = rss0;
  r.rssAfter = rss1;
  r.rssPerConn = (rss1 - rss0) / Math.max(1, okConns - closed);
  r.failed = failed;
  const notes: string[] = [];
  if (failed > 0) notes.push(`${failed} connects failed (${errs[0]})`);
  if (closed > 0) notes.push(`${closed} idle connections closed by the server`);
  if (notes.length) r.note = notes.join('; ');
}

async function runCell(o: Opts, scenario: Scenario, transport: Transport, payload: number, server: ServerKind, round: number): Promise<CellResult> {
  const r: CellResult = { scenario, transport, payload, server, round };
  let srv: ServerProc | undefined;
  const workers: WorkerProc[] = [];
  const budget = 180000 + (o.warmup + o.duration) * 1000;
  let timer: NodeJS.Timeout | undefined;
  try {
    srv = await startServer(server, { iosigMode: o.iosigMode, cpu: o.pin ? CPU_SERVER : undefined, baseRoot: o.baseRoot });
    const s = srv;
    const work = scenario === 'fanout' ? runFanout(o, s, transport, payload, r, workers)
      : scenario === 'pingpong' ? runPingpong(o, s, transport, r, workers)
        : runStorm(o, s, transport, r, workers);
    await Promise.race([work, new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error('cell time budget exceeded')), budget); })]);
  } catch (e) {
    r.error = (e as Error).message;
    if (srv?.exited) r.error = `server crashed/exited (code ${srv.exited.code}, signal ${srv.exited.signal}): ${r.error}`;
  } finally {
    if (timer) clearTimeout(timer);
    await Promise.all(workers.map((w) => w.exit().catch(() => {})));
    await srv?.stop().catch(() => {});
  }
  return r;
}

// ---------------------------------------------------------------- report

const fmtInt = (x: number | undefined): string => (x === undefined ? '–' : Math.round(x).toLocaleString('en-US'));
const fmt = (x: number | undefined, d = 2): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const fmtRatio = (a: number | undefined, b: number | undefined): string =>
  (a === undefined || b === undefined || b === 0 ? '–' : (a / b).toFixed(2) + '×');

interface Row {
  scenario: Scenario; transport: Transport; payload: number; server: ServerKind;
  ok: CellResult[]; errors: string[];
  rate?: number; us?: number; srvCpu?: number; cliCpu?: number; cliUs?: number;
  p50?: number; p99?: number; rss?: number; lost?: number; stalls?: number; notes: string[];
}

function aggregate(results: CellResult[], o: Opts): Row[] {
  const rows: Row[] = [];
  for (const scenario of o.scenarios) {
    for (const transport of o.transports) {
      const payloads = scenario === 'fanout' ? o.payloads : scenario === 'pingpong' ? [o.pingPayload] : [0];
      for (const payload of payloads) {
        for (const server of o.servers) {
          const mine = results.filter((x) => x.scenario === scenario && x.transport === transport && x.payload === payload && x.server === server);
          const ok = mine.filter((x) => x.error === undefined);
          const m = (f: (c: CellResult) => number | undefined): number | undefined => figure(median(ok.map(f).filter((v): v is number => v !== undefined)));
          rows.push({
            scenario, transport, payload, server, ok,
            errors: mine.filter((x) => x.error !== undefined).map((x) => x.error!),
            rate: m((c) => c.rate), us: m((c) => c.serverUsPerOp), srvCpu: m((c) => c.serverCpuPct),
            cliCpu: m((c) => c.clientCpuPct), cliUs: m((c) => c.clientUsPerOp),
            p50: m((c) => c.latP50), p99: m((c) => c.latP99), rss: m((c) => c.rssPerConn),
            lost: ok.length ? Math.max(...ok.map((c) => c.lost ?? 0)) : undefined,
            stalls: ok.length ? sum(ok.map((c) => c.stalls ?? 0)) : undefined,
            notes: [...new Set(mine.map((x) => x.note).filter((n): n is string => !!n))],
          });
        }
      }
    }
  }
  return rows;
}

/** A row's rate over another's within each round (the two ran back to back, so drift between rounds cancels). */
function perRoundRatios(me: Row, other: Row): number[] {
  const ratios: number[] = [];
  for (const cell of me.ok) {
    const peer = other.ok.find((x) => x.round === cell.round);
    if (cell.rate && peer?.rate) ratios.push(cell.rate / peer.rate);
  }
  return ratios;
}

function unit(s: Scenario): string {
  return s === 'fanout' ? 'deliveries/s' : s === 'pingpong' ? 'round trips/s' : 'connections/s';
}

function render(rows: Row[], o: Opts, cmd: string, startedAt: Date, elapsedS: number): string {
  const out: string[] = [];
  out.push(`# iosig benchmark results`);
  out.push('');
  out.push(`- date: ${startedAt.toISOString()} (${elapsedS.toFixed(0)} s)`);
  out.push(`- machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ${os.platform()} ${os.release()}`);
  out.push(`- pinning: ${o.pin && hasTaskset() ? `server on CPU ${CPU_SERVER}, generators + runner on CPU ${CPU_GEN} (taskset)` : 'none'}`);
  out.push(`- command: \`${cmd}\``);
  out.push(`- settings: rounds ${o.rounds}, warm-up ${o.warmup} s, duration ${o.duration} s, fan-out subscribers ${o.subs}, ping-pong pairs ${o.pairs} (payload ${o.pingPayload} B), storm connections ${o.conns}, generator processes: fan-out ${o.fanWorkers}, ping-pong ${o.ppWorkers}, storm ${o.workers}, fan-out window ${o.window} messages, ws client ${o.wsClient}`);
  out.push('');
  out.push('Rates and CPU figures are medians over rounds. "server µs/op" = server process CPU time (user+sys, all threads) per delivery / round trip / accepted connection. CPU % is of one core. Client CPU = all load-generator processes together.');
  out.push('');
  out.push('| scenario | transport | payload | server | median rate | server µs/op | server CPU | client CPU | detail | iosig/ceiling | iosig/iosignal |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    const peers = rows.filter((x) => x.scenario === row.scenario && x.transport === row.transport && x.payload === row.payload);
    const me = peers.find((x) => x.server === 'iosig');
    const ceil = peers.find((x) => x.server === 'ceiling');
    const ref = peers.find((x) => x.server === 'iosignal');
    let detail: string;
    let rc = '', ri = '';
    if (row.scenario === 'fanout') detail = `lost ${fmtInt(row.lost)}${row.stalls ? `, stalls ${row.stalls}` : ''}`;
    else if (row.scenario === 'pingpong') detail = `p50 ${fmt(row.p50, 3)} ms, p99 ${fmt(row.p99, 3)} ms`;
    else detail = `RSS ${fmtInt(row.rss)} B/conn`;
    if (row.server === 'iosig') {
      if (row.scenario === 'storm') {
        rc = `rate ${fmtRatio(me?.rate, ceil?.rate)}, RSS ${fmtRatio(me?.rss, ceil?.rss)}`;
        ri = `rate ${fmtRatio(me?.rate, ref?.rate)}, RSS ${fmtRatio(me?.rss, ref?.rss)}`;
      } else {
        rc = fmtRatio(me?.rate, ceil?.rate);
        ri = fmtRatio(me?.rate, ref?.rate);
      }
    }
    const failed = row.ok.length === 0;
    const rate = failed ? `FAILED (${row.errors.length}/${row.errors.length} rounds)` : `${fmtInt(row.rate)} ${unit(row.scenario)}`
      + (row.errors.length ? ` (${row.errors.length} round(s) failed)` : '');
    out.push(`| ${row.scenario} | ${row.transport} | ${row.scenario === 'storm' ? 'idle' : row.payload + ' B'} | ${row.server} | ${rate} | ${failed ? '–' : fmt(row.us, row.scenario === 'fanout' ? 3 : 2)} | ${failed ? '–' : fmt(row.srvCpu, 0) + '%'} | ${failed ? '–' : fmt(row.cliCpu, 0) + '%'} | ${failed ? '–' : detail} | ${rc} | ${ri} |`);
  }
  out.push('');
  const bases = rows.filter((x) => x.server === 'iosig-base');
  if (bases.length > 0) {
    out.push(`iosig against \`iosig-base\` (${o.baseRoot}), same run, medians: a rate ratio above 1 and a CPU ratio below 1 favour iosig.`);
    out.push('');
    out.push('| scenario | transport | payload | rate iosig / base | server µs/op iosig / base |');
    out.push('|---|---|---|---|---|');
    for (const base of bases) {
      const me = rows.find((x) => x.scenario === base.scenario && x.transport === base.transport && x.payload === base.payload && x.server === 'iosig');
      out.push(`| ${base.scenario} | ${base.transport} | ${base.scenario === 'storm' ? 'idle' : base.payload + ' B'} | ${fmtRatio(me?.rate, base.rate)} | ${fmtRatio(me?.us, base.us)} |`);
    }
    out.push('');
  }
  // Targets
  const tgt: string[] = [];
  for (const t of o.transports) {
    for (const p of o.payloads) {
      const me = rows.find((x) => x.scenario === 'fanout' && x.transport === t && x.payload === p && x.server === 'iosig');
      const ceil = rows.find((x) => x.scenario === 'fanout' && x.transport === t && x.payload === p && x.server === 'ceiling');
      if (!me || !o.scenarios.includes('fanout')) continue;
      const lim = t === 'ws' ? 0.5 : 0.7;
      if (ceil?.rate && me.rate) {
        const ratio = me.rate / ceil.rate;
        const rounds = perRoundRatios(me, ceil);
        const paired = rounds.length > 1 ? ` (round by round ${rounds.map((x) => x.toFixed(2)).join(', ')}; median ${fmt(median(rounds))}×)` : '';
        tgt.push(`- fan-out ${t} ${p} B: deliveries/s ${ratio.toFixed(2)}× ceiling${paired} (target ≥ 0.8×) → ${ratio >= 0.8 ? 'MET' : 'NOT MET'}`);
      }
      if (me.us !== undefined) tgt.push(`- fan-out ${t} ${p} B: server CPU ${me.us.toFixed(3)} µs/delivery (target ≤ ${lim} µs) → ${me.us <= lim ? 'MET' : 'NOT MET'}`);
    }
  }
  for (const t of o.transports) {
    for (const p of o.payloads) {
      const on = rows.find((x) => x.scenario === 'fanout' && x.transport === t && x.payload === p && x.server === 'iosig');
      const off = rows.find((x) => x.scenario === 'fanout' && x.transport === t && x.payload === p && x.server === 'iosig-nohttp');
      if (!on?.rate || !off?.rate) continue;
      const ratio = on.rate / off.rate;
      tgt.push(`- fan-out ${t} ${p} B: metrics on (HTTP + a scrape per second) ${ratio.toFixed(3)}× metrics off, server CPU ${fmt(on.us, 3)} vs ${fmt(off.us, 3)} µs/delivery (target within 5 %) → ${ratio >= 0.95 ? 'MET' : 'NOT MET'}`);
    }
  }
  const st = rows.find((x) => x.scenario === 'storm' && x.transport === 'ws' && x.server === 'iosig');
  if (st?.rss !== undefined) tgt.push(`- storm ws ${o.conns} idle connections: ${Math.round(st.rss)} B RSS/connection (target ≤ 2500 B) → ${st.rss <= 2500 ? 'MET' : 'NOT MET'}${o.conns !== 10000 ? ' (target is stated at 10 000 connections)' : ''}`);
  if (tgt.length) { out.push('Targets (iosig):'); out.push(''); out.push(...tgt); out.push(''); }
  const errs = rows.filter((x) => x.errors.length || x.notes.length);
  if (errs.length) {
    out.push('Failures and notes:');
    out.push('');
    for (const row of errs) {
      for (const e of [...new Set(row.errors)]) out.push(`- ${row.scenario}/${row.transport}/${row.payload}/${row.server}: ${e}`);
      for (const n of row.notes) out.push(`- ${row.scenario}/${row.transport}/${row.payload}/${row.server}: ${n}`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** Retained memory, not the accept burst's garbage: every launcher collects on SIGUSR2. */
async function collectGarbage(srv: ServerProc): Promise<void> {
  if (!srv.collectsOnSignal) return;
  process.kill(srv.pid, 'SIGUSR2');
  await sleep(300);
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o = parseArgs(argv);
  if (o.pin) pinSelf(CPU_GEN);
  const cmd = `npm run bench${argv.length ? ' -- ' + argv.join(' ') : ''}`;
  const startedAt = new Date();
  const results: CellResult[] = [];
  const cells: [Scenario, Transport, number][] = [];
  for (const scenario of o.scenarios) {
    for (const transport of o.transports) {
      const payloads = scenario === 'fanout' ? o.payloads : scenario === 'pingpong' ? [o.pingPayload] : [0];
      for (const p of payloads) cells.push([scenario, transport, p]);
    }
  }
  console.log(`iosig bench: ${cells.length} cells × ${o.rounds} rounds × ${o.servers.length} servers${o.pin && hasTaskset() ? ' (pinned)' : ''}`);
  for (const [scenario, transport, payload] of cells) {
    for (let round = 1; round <= o.rounds; round++) {
      for (const server of o.servers) {
        const r = await runCell(o, scenario, transport, payload, server, round);
        results.push(r);
        const what = `${scenario} ${transport}${scenario === 'fanout' ? ' ' + payload + 'B' : ''} ${server} r${round}`;
        if (r.error) console.log(`  ${what}: ERROR ${r.error}`);
        else {
          const extra = scenario === 'pingpong' ? ` p50 ${fmt(r.latP50, 3)} ms p99 ${fmt(r.latP99, 3)} ms`
            : scenario === 'storm' ? ` RSS ${fmtInt(r.rssPerConn)} B/conn` : ` lost ${fmtInt(r.lost)} stalls ${r.stalls}`;
          console.log(`  ${what}: ${fmtInt(r.rate)} ${unit(scenario)}, server ${fmt(r.serverUsPerOp, 3)} µs/op (${fmt(r.serverCpuPct, 0)}%), client ${fmt(r.clientCpuPct, 0)}%${extra}${r.note ? ' — ' + r.note : ''}`);
        }
      }
    }
  }
  const elapsed = (Date.now() - startedAt.getTime()) / 1000;
  const md = render(aggregate(results, o), o, cmd, startedAt, elapsed);
  console.log('\n' + md);
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, md + '\n');
  writeFileSync(o.out.replace(/\.md$/, '') + '.json', JSON.stringify({ opts: o, results }, null, 1) + '\n');
  console.log(`written ${o.out}`);
}

main().then(() => { killAll(); process.exit(0); }, (e: unknown) => {
  console.error(e);
  killAll();
  process.exit(1);
});
