// MQTT brokers side by side in one run: Debian's mosquitto (generated config, a free port) and aedes from npm as
// baselines, and iosig's own `-M` listener (io-server from this build). The broker is pinned to CPU 0 and this load generator to
// CPU 1 (when taskset exists). Prints one table with each broker's figures and their ratio to mosquitto.
//   npm run build && node dist/bench/mqtt-brokers.js [--brokers mosquitto,aedes,iosig] [--scenarios fanout,crossing,qos1,idle]
//        [--subs 1000] [--payloads 64,1024] [--pairs 100] [--conns 10000] [--duration 5] [--warmup 1]
//        [--rounds 1] [--version 4|5] [--window 32] [--quick]
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { median } from './lib/stats.js';
import { eachFlag, list } from './lib/flags.js';
import { BENCH_DIST, REPO_ROOT, freePort, pinSelf, sleep, spawnTracked } from './lib/procs.js';
import { crossing, defaultLoad, fanOut, idle, loadFlag, qos1Pairs, type LoadTarget } from './mqtt-load.js';

const MOSQUITTO = '/usr/sbin/mosquitto';
const SERVER_CPU = '0';
const LOAD_CPU = '1';

interface Broker {
  name: string;
  proc: ChildProcess;
  port: number;
  /** iosig only: its WebSocket port, for the crossing (MQTT publisher, iosignal subscribers). */
  wsPort?: number;
  stop(): Promise<void>;
}

/** A broker's start can take many seconds on a busy host (node loading its modules). */
async function waitForPort(port: number, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${port}`);
    await sleep(50);
  }
}

function stopper(proc: ChildProcess, cleanup: () => void = () => {}): () => Promise<void> {
  return async () => {
    if (proc.exitCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(3000)]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
    cleanup();
  };
}

/** mosquitto 2 with a generated config: one listener on 127.0.0.1, anonymous clients, no persistence. */
async function startMosquitto(): Promise<Broker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'iosig-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'set_tcp_nodelay true', 'log_dest none', ''].join('\n'));
  const proc = spawnTracked(SERVER_CPU, MOSQUITTO, ['-c', conf], ['ignore', 'ignore', 'inherit']);
  await waitForPort(port);
  return { name: 'mosquitto', proc, port, stop: stopper(proc, () => rmSync(dir, { recursive: true, force: true })) };
}

async function startAedes(): Promise<Broker> {
  const port = await freePort();
  const proc = spawnTracked(SERVER_CPU, process.execPath, [join(BENCH_DIST, 'servers', 'aedes.js'), String(port)], ['ignore', 'ignore', 'inherit']);
  await waitForPort(port);
  return { name: 'aedes', proc, port, stop: stopper(proc) };
}

/** iosig from this build: the MQTT listener alone, the connection caps off (the load comes from one address). */
async function startIosig(): Promise<Broker> {
  const port = await freePort();
  const wsPort = await freePort();
  const args = [join(REPO_ROOT, 'bin', 'io-server.js'), '-M', String(port), '-l', String(wsPort), '--host', '127.0.0.1', '--max-connections', '0', '--max-connections-per-address', '0', '--max-handshakes-per-address', '0', '--mqtt-sys-interval', '0'];
  const proc = spawnTracked(SERVER_CPU, process.execPath, args, ['ignore', 'ignore', 'inherit']);
  await waitForPort(port);
  return { name: 'iosig', proc, port, wsPort, stop: stopper(proc) };
}

const STARTERS: Record<string, () => Promise<Broker>> = { mosquitto: startMosquitto, aedes: startAedes, iosig: startIosig };

let brokers = ['mosquitto', 'aedes', 'iosig'];
let rounds = 1;
const o = defaultLoad();
eachFlag(process.argv.slice(2), (flag, value) => {
  if (flag === '--brokers') brokers = list(value());
  else if (flag === '--rounds') rounds = Number(value());
  else if (!loadFlag(o, flag, value)) throw new Error(`unknown flag ${flag}`);
});
const { scenarios, subs, payloads, pairs, conns, duration, warmup, window, version } = o;
for (const b of brokers) if (!STARTERS[b]) throw new Error(`unknown broker ${b} (known: ${Object.keys(STARTERS).join(', ')})`);
if (brokers.includes('mosquitto') && !existsSync(MOSQUITTO)) throw new Error(`${MOSQUITTO} is missing: apt-get install mosquitto`);
pinSelf(LOAD_CPU);

interface Row {
  scenario: string;
  unit: string;
  cpuUnit: string;
  /** broker → per-round [rate, cpu]. */
  values: Map<string, Array<[number, number]>>;
}
const rows = new Map<string, Row>();
const record = (scenario: string, unit: string, cpuUnit: string, broker: string, rate: number, cpuPer: number): void => {
  let row = rows.get(scenario);
  if (!row) rows.set(scenario, (row = { scenario, unit, cpuUnit, values: new Map() }));
  const list = row.values.get(broker) ?? [];
  list.push([rate, cpuPer]);
  row.values.set(broker, list);
};

const started = new Date();
for (let round = 1; round <= rounds; round++) {
  for (const name of brokers) {
    const broker = await STARTERS[name]!();
    const target: LoadTarget = { port: broker.port, pid: broker.proc.pid ?? 0, version };
    try {
      if (scenarios.includes('idle')) {
        const r = await idle(target, conns);
        record(`idle, ${conns} connections`, 'B RSS / connection', 'µs CPU / connection', name, r.bytesPerConn, r.cpuUsPerConn);
        console.error(`[round ${round}] ${name} idle: ${r.bytesPerConn.toFixed(0)} B/conn`);
      }
      if (scenarios.includes('fanout')) {
        for (const p of payloads) {
          const r = await fanOut(target, subs, p, duration, warmup, window);
          record(`QoS 0 fan-out, ${subs} subs, ${p} B`, 'deliveries/s', 'µs CPU / delivery', name, r.deliveriesPerSec, r.cpuUsPerDelivery);
          console.error(`[round ${round}] ${name} fanout ${p} B: ${(r.deliveriesPerSec / 1e3).toFixed(0)} k/s`);
        }
      }
      if (scenarios.includes('crossing') && broker.wsPort !== undefined) {
        for (const p of payloads) {
          const r = await crossing(target, broker.wsPort, subs, p, duration, warmup, window);
          record(`QoS 0 crossing MQTT → iosignal ws, ${subs} subs, ${p} B`, 'deliveries/s', 'µs CPU / delivery', name, r.deliveriesPerSec, r.cpuUsPerDelivery);
          console.error(`[round ${round}] ${name} crossing ${p} B: ${(r.deliveriesPerSec / 1e3).toFixed(0)} k/s`);
        }
      }
      if (scenarios.includes('qos1')) {
        const r = await qos1Pairs(target, pairs, duration, warmup);
        record(`QoS 1 pairs ×${pairs}`, 'round trips/s', 'µs CPU / round trip', name, r.roundTripsPerSec, r.cpuUsPerRoundTrip);
        console.error(`[round ${round}] ${name} qos1: ${r.roundTripsPerSec.toFixed(0)} rt/s`);
      }
    } finally {
      await broker.stop();
    }
  }
}

const fmt = (n: number): string => (Number.isNaN(n) ? '–' : n >= 100_000 ? `${(n / 1e6).toFixed(2)} M` : n >= 1000 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(n < 10 ? 2 : 0));
console.log(`\nMQTT brokers, ${started.toISOString()}, MQTT ${version === 5 ? '5' : '3.1.1'}, ${rounds} round(s), ${duration} s per measurement (medians)`);
console.log(`broker pinned to CPU ${SERVER_CPU}, load generator to CPU ${LOAD_CPU}; the host is shared, so compare ratios within this run\n`);
console.log(`| scenario | ${brokers.map((b) => `${b}`).join(' | ')} | ${brokers.slice(1).map((b) => `${b} / ${brokers[0]}`).join(' | ')} | ${brokers.map((b) => `${b} CPU`).join(' | ')} |`);
console.log(`|---|${brokers.map(() => '---').join('|')}|${brokers.slice(1).map(() => '---').join('|')}|${brokers.map(() => '---').join('|')}|`);
for (const row of rows.values()) {
  const rate = (b: string): number => median((row.values.get(b) ?? []).map((v) => v[0]));
  const cpuPer = (b: string): number => median((row.values.get(b) ?? []).map((v) => v[1]));
  const first = rate(brokers[0]!);
  console.log(
    `| ${row.scenario} (${row.unit}; ${row.cpuUnit}) | ${brokers.map((b) => fmt(rate(b))).join(' | ')} | ${brokers
      .slice(1)
      .map((b) => `${(rate(b) / first).toFixed(2)}×`)
      .join(' | ')} | ${brokers.map((b) => fmt(cpuPer(b))).join(' | ')} |`,
  );
}
// The crossing target: iosig's CPU per delivery to iosignal subscribers against its own MQTT → MQTT fan-out.
for (const p of payloads) {
  const cross = rows.get(`QoS 0 crossing MQTT → iosignal ws, ${subs} subs, ${p} B`);
  const mqttRow = rows.get(`QoS 0 fan-out, ${subs} subs, ${p} B`);
  const of = (row: Row | undefined): number => median((row?.values.get('iosig') ?? []).map((v) => v[1]));
  if (cross && mqttRow) console.log(`crossing ${p} B: iosig CPU per delivery MQTT → iosignal / MQTT → MQTT = ${(of(cross) / of(mqttRow)).toFixed(2)}× (target ≤ 1.1×)`);
}
process.exit(0);
