// Durable state benchmarks (issue 20 targets):
//
//   publish  retained publishes through the real Router, in memory vs with the store written behind (what the
//            wiring adds per retained publish: one putRetained), LMDB and Redis (append-only, everysec); rate and
//            CPU per publish (process CPU: lmdb's writer threads included), the final flush inside the window.
//   broker   the same end to end: a real iosig server in this process (with and without --data-dir: the real
//            wiring, the retained journal included), a CongSocket publisher in a child process sending retained
//            signals as fast as the server takes them; server CPU per publish (lmdb's and libuv's threads included).
//   startup  1 M retained keys: a child builds the LMDB store; fresh children then (a) open it and read every key
//            into a Router as the start-up does (Router.restoreRetained), (b) build the same Router state from nothing (the in-memory
//            broker with the same data); time to serving and memory, against the data's bytes and against (b).
//   history  10 000 missed signals read back: ChannelHistory.since (memory, what a single node serves from), LMDB
//            readLog and Redis XRANGE (a cluster), entries per second.
//
// Usage: npm run build && nice node dist/bench/store.js [publish|broker|startup|history|all] [--keys 1000000]
//        [--rounds 3] [--seconds 2] [--publishes 400000] [--no-redis]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Stats } from '../src/metrics/stats.js';
import { resolveOptions } from '../src/options.js';
import { PAYLOAD } from '../src/protocol/codes.js';
import { encodeSignal } from '../src/protocol/messages.js';
import type { Subscriber } from '../src/router/channel.js';
import { Router } from '../src/router/router.js';
import { channelKey } from '../src/router/tags.js';
import { ChannelHistory } from '../src/history/channel-history.js';
import { HistoryPolicy } from '../src/history/policy.js';
import type { BufferedStore } from '../src/store/buffered-store.js';
import { LmdbStore } from '../src/store/lmdb-store.js';
import { RedisStore } from '../src/store/redis-store.js';
import { historyLog } from '../src/store/types.js';

const SELF = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : def;
}

const rounds = Number(arg('--rounds', '3'));
const seconds = Number(arg('--seconds', '2'));
const keys = Number(arg('--keys', '1000000'));
const useRedis = !process.argv.includes('--no-redis') && spawnSync('sh', ['-c', 'command -v redis-server']).status === 0;

function bigRouter(): Router {
  const options = resolveOptions({ port: 0, retain: { limitCounter: 2 * keys + 1000, limitSize: 100_000 }, maxRetainedBytes: 4 * 1024 * MiB, capShares: { share: 1, reserve: 0 } });
  return new Router(options, new Stats());
}

/** What the router needs of a publisher on this path (a channel publish, no subscribers). */
const publisher = { cid: 'B1', home: 'PRIVATE:', shareOwner: 'd:bench', authorized: true, quota: { publishCounter: 0 } } as unknown as Subscriber;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ---- publish -------------------------------------------------------------------------------------------------------

interface PublishResult {
  rate: number;
  cpuUs: number;
}

async function publishRun(store: BufferedStore | null, distinct: number, payload: number): Promise<PublishResult> {
  const router = bigRouter();
  const tags = Array.from({ length: distinct }, (_, i) => `sensor/${i}/state$`);
  const tagKeys = tags.map((t) => channelKey(t, publisher.home));
  const msgs = tags.map((t) => encodeSignal(t, PAYLOAD.BINARY, Buffer.alloc(payload, 7)));
  // Warm-up.
  for (let i = 0; i < distinct; i++) router.publish(publisher, msgs[i]!, tags[i]!);
  if (store) await store.flush();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const end = Date.now() + seconds * 1000;
  let n = 0;
  while (Date.now() < end) {
    for (let j = 0; j < 2000; j++) {
      const i = n++ % distinct;
      router.publish(publisher, msgs[i]!, tags[i]!);
      if (store) store.putRetained(tagKeys[i]!, { msg: router.retained.get(tagKeys[i]!)!, owner: publisher.shareOwner });
    }
    await turn();
  }
  if (store) await store.flush();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { rate: n / wall, cpuUs: (cpu.user + cpu.system) / n };
}

async function withRedis<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'iosig-bench-redis-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'], { stdio: 'ignore' });
  try {
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => undefined);
    for (let i = 0; i < 100; i++) {
      try {
        await probe.connect();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    probe.disconnect();
    return await fn(`redis://127.0.0.1:${port}`);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A Redis store on a private append-only redis-server, for the time of `fn`. */
function withRedisStore<T>(fn: (store: RedisStore) => Promise<T>): Promise<T> {
  return withRedis(async (url) => {
    const client = new Redis(url);
    const store = await RedisStore.open(client, url);
    try {
      return await fn(store);
    } finally {
      await store.close();
      client.disconnect();
    }
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One table: each row's median rate and CPU, and both against the first row (in memory). */
function printRows(title: string, rows: Record<string, PublishResult[]>): void {
  const [first] = Object.values(rows);
  const base = median(first!.map((x) => x.rate));
  const baseCpu = median(first!.map((x) => x.cpuUs));
  console.log(`\n${title} | publishes/s (median) | vs memory | CPU µs/publish | CPU vs memory | rounds`);
  for (const [name, results] of Object.entries(rows)) {
    const rate = median(results.map((x) => x.rate));
    const cpu = median(results.map((x) => x.cpuUs));
    console.log(`${name.padEnd(6)} | ${Math.round(rate).toLocaleString('en')} | ${(rate / base).toFixed(2)}× | ${cpu.toFixed(2)} | ${(cpu / baseCpu).toFixed(2)}× | ${results.map((x) => Math.round(x.rate / 1000)).join(', ')} k`);
  }
}

async function benchPublish(): Promise<void> {
  console.log(`\n## retained publishes (Router.publish of a retained tag, no subscriber; ${seconds} s per cell, ${rounds} rounds alternating)`);
  for (const [distinct, payload] of [
    [10_000, 64],
    [1000, 1024],
  ] as const) {
    const rows: Record<string, PublishResult[]> = { memory: [], lmdb: [], ...(useRedis ? { redis: [] } : {}) };
    for (let r = 0; r < rounds; r++) {
      rows['memory']!.push(await publishRun(null, distinct, payload));
      const dir = mkdtempSync(join(tmpdir(), 'iosig-bench-lmdb-'));
      const lmdb = LmdbStore.open(dir);
      rows['lmdb']!.push(await publishRun(lmdb, distinct, payload));
      await lmdb.close();
      rmSync(dir, { recursive: true, force: true });
      if (useRedis) await withRedisStore(async (store) => void rows['redis']!.push(await publishRun(store, distinct, payload)));
    }
    printRows(`${distinct} keys, ${payload} B payloads`, rows);
  }
}

// ---- broker --------------------------------------------------------------------------------------------------------

interface BrokerServer {
  congPort: number | undefined;
  broker: { router: Router; durability: { store: BufferedStore | null } };
  close(): Promise<void> | void;
}

async function childPublisher(port: number, n: number, distinct: number, payload: number): Promise<void> {
  const net = await import('node:net');
  const { encodeFrame } = await import('../src/protocol/congsocket.js');
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  socket.on('data', () => {});
  const frames = Array.from({ length: distinct }, (_, i) => encodeFrame(encodeSignal(`sensor/${i}/state$`, PAYLOAD.BINARY, Buffer.alloc(payload, 7))));
  let i = 0;
  while (i < n) {
    const chunk: Buffer[] = [];
    for (let j = 0; j < 500 && i < n; j++, i++) chunk.push(frames[i % distinct]!);
    if (!socket.write(Buffer.concat(chunk))) await new Promise((resolve) => socket.once('drain', resolve));
  }
  await new Promise<void>((resolve) => socket.end(() => resolve()));
}

async function brokerRun(kind: 'memory' | 'lmdb', n: number, distinct: number, payload: number): Promise<PublishResult> {
  const { startServer } = (await import('../src/server.js')) as unknown as { startServer: (o: object) => Promise<BrokerServer> };
  const dir = mkdtempSync(join(tmpdir(), 'iosig-bench-broker-'));
  // The real wiring: --data-dir (LMDB, its journal) or nothing.
  const server = await startServer({ congPort: 0, host: '127.0.0.1', http: false, timeout: 600000, capShares: { share: 1, reserve: 0 }, retain: { limitCounter: distinct + 10 }, maxRetainedBytes: 1024 * MiB, log: () => {}, dataDir: kind === 'lmdb' ? dir : null });
  const router = server.broker.router;
  const keep = router.retainForChannel.bind(router);
  let kept = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  router.retainForChannel = (key, msg, publisher, from = null) => {
    keep(key, msg, publisher, from);
    if (++kept === n) done();
  };
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [SELF, 'child-publisher', String(server.congPort), String(n), String(distinct), String(payload)], { stdio: 'ignore' });
  await finished;
  // Everything committed (in the journal, fsync'ed) inside the window; the checkpoint to rows is not waited for.
  const store = server.broker.durability.store;
  if (store) await waitCommitted(store);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  await new Promise((resolve) => child.once('exit', resolve));
  await server.close();
  rmSync(dir, { recursive: true, force: true });
  return { rate: n / wall, cpuUs: (cpu.user + cpu.system) / n };
}

async function waitCommitted(store: BufferedStore): Promise<void> {
  while (store.stats().pendingWrites > 0) await new Promise((resolve) => setTimeout(resolve, 1));
}

async function benchBroker(): Promise<void> {
  const n = Number(arg('--publishes', '400000'));
  console.log(`\n## end to end: a CongSocket client publishing ${n.toLocaleString('en')} retained signals to a real server (${rounds} rounds alternating)`);
  for (const [distinct, payload] of [
    [10_000, 64],
    [1000, 1024],
  ] as const) {
    const rows: Record<string, PublishResult[]> = { memory: [], lmdb: [] };
    for (let r = 0; r < rounds; r++) {
      rows['memory']!.push(await brokerRun('memory', n, distinct, payload));
      rows['lmdb']!.push(await brokerRun('lmdb', n, distinct, payload));
    }
    printRows(`${distinct} keys, ${payload} B payloads (server CPU)`, rows);
  }
}

// ---- startup -------------------------------------------------------------------------------------------------------

function retainedMessage(i: number): { tag: string; msg: Buffer } {
  const tag = `sensor/${i}/temp$`;
  return { tag, msg: encodeSignal(tag, PAYLOAD.TEXT, Buffer.from(`${(i % 400) / 10}\0`)) };
}

async function childBuild(dir: string): Promise<void> {
  const store = LmdbStore.open(dir);
  for (let i = 0; i < keys; i++) {
    const { tag, msg } = retainedMessage(i);
    store.putRetained(`CH:${tag}`, { msg, owner: null });
    if (i % 50_000 === 49_999) await store.flush();
  }
  await store.close();
}

function memoryFigures(): { rss: number; heap: number; external: number } {
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external + m.arrayBuffers };
}

async function childLoad(dir: string, mode: 'store' | 'memory'): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  const before = memoryFigures();
  const t0 = process.hrtime.bigint();
  const router = bigRouter();
  let dataBytes = 0;
  let count = 0;
  if (mode === 'store') {
    const store = LmdbStore.open(dir);
    await store.load({
      retained: (key, value) => {
        router.restoreRetained(key, value.msg, value.owner);
        dataBytes += key.length + value.msg.length;
        count++;
      },
    });
    await store.close();
  } else {
    for (let i = 0; i < keys; i++) {
      const { tag, msg } = retainedMessage(i);
      const key = `CH:${tag}`;
      router.retainForChannel(key, msg, null);
      dataBytes += key.length + msg.length;
      count++;
    }
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  (globalThis as { gc?: () => void }).gc?.();
  const after = memoryFigures();
  if (router.retained.size !== keys) throw new Error(`loaded ${router.retained.size} of ${keys}`);
  process.stdout.write(JSON.stringify({ mode, ms, count, dataBytes, rss: after.rss - before.rss, heap: after.heap - before.heap, external: after.external - before.external }) + '\n');
}

function runChild(args: string[]): Record<string, number | string> {
  const r = spawnSync(process.execPath, ['--expose-gc', SELF, ...args], { encoding: 'utf8', maxBuffer: 16 * MiB });
  if (r.status !== 0) throw new Error(`child ${args.join(' ')} failed: ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop() ?? '{}';
  return line.startsWith('{') ? (JSON.parse(line) as Record<string, number | string>) : {};
}

async function benchStartup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'iosig-bench-startup-'));
  try {
    const b0 = Date.now();
    runChild(['child-build', dir, '--keys', String(keys)]);
    const file = spawnSync('du', ['-b', join(dir, 'iosig.mdb')], { encoding: 'utf8' }).stdout.split('\t')[0];
    console.log(`\n## start-up with ${keys.toLocaleString('en')} retained keys (built in ${((Date.now() - b0) / 1000).toFixed(1)} s; LMDB file ${(Number(file) / MiB).toFixed(0)} MiB)`);
    console.log('mode | time to serving (s) | data MiB (keys + messages) | RSS growth MiB | heap MiB | buffers MiB | RSS / data | RSS / in-memory');
    const runs: Array<Record<string, number | string>> = [];
    for (let r = 0; r < rounds; r++) {
      runs.push(runChild(['child-load', dir, 'memory', '--keys', String(keys)]));
      runs.push(runChild(['child-load', dir, 'store', '--keys', String(keys)]));
    }
    const med = (mode: string, field: string): number => {
      const xs = runs.filter((x) => x['mode'] === mode).map((x) => Number(x[field]));
      return xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    };
    for (const mode of ['memory', 'store']) {
      const data = med(mode, 'dataBytes');
      console.log(
        `${mode === 'store' ? 'from the LMDB store' : 'in memory (no store)'} | ${(med(mode, 'ms') / 1000).toFixed(2)} | ${(data / MiB).toFixed(1)} | ${(med(mode, 'rss') / MiB).toFixed(0)} | ${(med(mode, 'heap') / MiB).toFixed(0)} | ${(med(mode, 'external') / MiB).toFixed(0)} | ${(med(mode, 'rss') / data).toFixed(2)}× | ${(med(mode, 'rss') / med('memory', 'rss')).toFixed(2)}×`,
      );
    }
    console.log(`rounds (store, s): ${runs.filter((x) => x['mode'] === 'store').map((x) => (Number(x['ms']) / 1000).toFixed(2)).join(', ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- history -------------------------------------------------------------------------------------------------------

async function benchHistory(): Promise<void> {
  const N = 10_000;
  const dir = mkdtempSync(join(tmpdir(), 'iosig-bench-history-'));
  const store = LmdbStore.open(dir);
  const history = new ChannelHistory({ policy: HistoryPolicy.parse(['chat=10000']), store });
  const msgs = Array.from({ length: N }, (_, i) => encodeSignal('chat', PAYLOAD.TEXT, Buffer.from(`message ${i} ${'x'.repeat(40)}\0`)));
  for (const m of msgs) history.append('CH:chat', m);
  await store.flush();
  const p = history.position('CH:chat')!;
  const rate = async (read: () => Promise<number> | number, repeat: number): Promise<number> => {
    await read();
    const t0 = process.hrtime.bigint();
    let entries = 0;
    for (let i = 0; i < repeat; i++) entries += await read();
    return entries / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  console.log(`\n## reading back ${N.toLocaleString('en')} missed signals (${msgs[0]!.length} B each) | entries/s`);
  const memory = await rate(() => {
    const r = history.since('CH:chat', p.epoch, 0, N);
    return r.ok ? r.entries.length : 0;
  }, 50);
  console.log(`ChannelHistory.since (one node: memory, written behind to LMDB) | ${Math.round(memory).toLocaleString('en')}`);
  const lmdb = await rate(async () => (await store.readLog(historyLog('CH:chat'), 1, N)).length, 10);
  console.log(`LMDB readLog (the store itself) | ${Math.round(lmdb).toLocaleString('en')}`);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  if (useRedis) {
    await withRedisStore(async (redisStore) => {
      const h = new ChannelHistory({ policy: HistoryPolicy.parse(['chat=10000']), store: redisStore });
      for (const m of msgs) h.append('CH:chat', m);
      await redisStore.flush();
      const redis = await rate(async () => (await redisStore.readLog(historyLog('CH:chat'), 1, N)).length, 10);
      console.log(`Redis XRANGE (a cluster) | ${Math.round(redis).toLocaleString('en')}`);
    });
  }
}

// ---- main ----------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const what = process.argv[2] ?? 'all';
  if (what === 'child-build') return childBuild(process.argv[3]!);
  if (what === 'child-load') return childLoad(process.argv[3]!, process.argv[4] as 'store' | 'memory');
  if (what === 'child-publisher') return childPublisher(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6]));
  console.log(`# iosig durable state benchmark — node ${process.version}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at start${useRedis ? '' : ' (no redis-server: Redis rows skipped)'}`);
  if (what === 'publish' || what === 'all') await benchPublish();
  if (what === 'broker' || what === 'all') await benchBroker();
  if (what === 'startup' || what === 'all') await benchStartup();
  if (what === 'history' || what === 'all') await benchHistory();
  console.log(`\nload average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
