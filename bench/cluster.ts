// Cluster benchmark (issue 10): cross-node fan-out and cross-node unicast ping-pong against the same traffic on one
// node, with a private redis-server. Reports deliveries/s, server CPU per delivery on each node, Redis CPU, Redis
// messages per publish (from the nodes' own counters) and ping-pong latency p50/p99 at a fixed rate.
//   npm run build && node dist/bench/cluster.js [--subs 1000] [--publishes 400] [--rate 1000] [--seconds 3]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectReady, type ReadyConn, type Transport } from './lib/conn.js';
import { freePort, procCpuUs, REPO_ROOT, sleep } from './lib/procs.js';
import { signalMsg, subscribeMsg } from './lib/proto.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SUBS = arg('subs', 1000);
const PUBLISHES = arg('publishes', 400);
const RATE = arg('rate', 1000);
const SECONDS = arg('seconds', 3);
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'iosig-bench-cluster-'));

interface Node {
  pid: number;
  ws: number;
  cong: number;
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const c = await connectReady({ transport: 'cong', port, timeoutMs: 1000 });
      c.conn.close();
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`port ${port} never opened`);
}

async function startNode(extra: string[]): Promise<Node> {
  const ws = await freePort();
  const cong = await freePort();
  const child = spawn(process.execPath, [REPO_ROOT + 'bin/io-server.js', '-l', String(ws), '-L', String(cong), '--host', '127.0.0.1', '-t', '600000', ...extra], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  await waitPort(cong);
  return { pid: child.pid!, ws, cong };
}

async function metric(node: Node, name: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${node.ws}/metrics`);
  const text = await res.text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** Fan-out: one publisher on nodes[0], SUBS subscribers spread over `nodes`; counts deliveries until all arrive. */
async function fanOut(nodes: Node[], transport: Transport, redisPid: number | null): Promise<Record<string, number | string>> {
  const subs: ReadyConn[] = [];
  let received = 0;
  for (let i = 0; i < SUBS; i++) {
    const node = nodes[i % nodes.length]!;
    const c = await connectReady({ transport, port: transport === 'ws' ? node.ws : node.cong, cid: true });
    c.conn.onmsg = (m) => {
      if (m[0] === 0xd0) received++;
    };
    c.conn.send(subscribeMsg('fan'));
    subs.push(c);
  }
  const pub = await connectReady({ transport, port: transport === 'ws' ? nodes[0]!.ws : nodes[0]!.cong, cid: true });
  const payload = Buffer.alloc(64, 1);
  // Interest propagation: wait until a probe reaches every subscriber.
  for (let i = 0; i < 100 && received < SUBS; i++) {
    received = 0;
    pub.conn.send(signalMsg('fan', payload));
    await sleep(100);
  }
  await sleep(200);
  received = 0;
  const cpu0 = nodes.map((n) => procCpuUs(n.pid));
  const r0 = redisPid ? procCpuUs(redisPid) : 0;
  const pub0 = await metric(nodes[0]!, 'iosig_cluster_envelopes_sent_total{kind="data"');
  const del0 = await metric(nodes[0]!, 'iosig_cluster_redis_deliveries_total');
  const t0 = process.hrtime.bigint();
  const total = PUBLISHES * SUBS;
  for (let i = 0; i < PUBLISHES; i += 20) {
    pub.conn.sendMany(Array.from({ length: Math.min(20, PUBLISHES - i) }, () => signalMsg('fan', payload)));
    await new Promise((r) => setImmediate(r));
  }
  const deadline = Date.now() + 60_000;
  while (received < total && Date.now() < deadline) await sleep(5);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = nodes.map((n, i) => procCpuUs(n.pid) - cpu0[i]!);
  const redisCpu = redisPid ? procCpuUs(redisPid) - r0 : 0;
  const published = (await metric(nodes[0]!, 'iosig_cluster_envelopes_sent_total{kind="data"')) - pub0;
  const redisDeliveries = (await metric(nodes[0]!, 'iosig_cluster_redis_deliveries_total')) - del0;
  for (const c of [...subs, pub]) c.conn.close();
  const perNode = SUBS / nodes.length;
  return {
    'deliveries/s': Math.round(received / seconds),
    delivered: `${received}/${total}`,
    ...Object.fromEntries(cpu.map((us, i) => [`node${i} µs/delivery`, +(us / (PUBLISHES * perNode)).toFixed(3)])),
    ...(nodes.length > 1
      ? {
          'node0 µs/publish (bus side incl.)': +(cpu[0]! / PUBLISHES).toFixed(2),
          'redis µs/publish': +(redisCpu / PUBLISHES).toFixed(2),
          'Redis msgs in/publish': +(published / PUBLISHES).toFixed(3),
          'Redis msgs out/publish': +(redisDeliveries / PUBLISHES).toFixed(3),
        }
      : {}),
  };
}

/** Ping-pong at a fixed rate: X on nodes[0] unicasts to Y on nodes[last], Y answers; RTT percentiles. */
async function pingPong(nodes: Node[], transport: Transport): Promise<Record<string, number>> {
  const a = nodes[0]!;
  const b = nodes[nodes.length - 1]!;
  const x = await connectReady({ transport, port: transport === 'ws' ? a.ws : a.cong, cid: true });
  const y = await connectReady({ transport, port: transport === 'ws' ? b.ws : b.cong, cid: true });
  y.conn.onmsg = (m) => {
    if (m[0] === 0xd0) y.conn.send(signalMsg(`${x.cid}@pong`, m.subarray(3 + m[1]!)));
  };
  const rtts: number[] = [];
  let inFlight = new Map<number, bigint>();
  x.conn.onmsg = (m) => {
    if (m[0] !== 0xd0) return;
    const id = m.readUInt32BE(3 + m[1]!);
    const sent = inFlight.get(id);
    if (sent !== undefined) {
      rtts.push(Number(process.hrtime.bigint() - sent) / 1000);
      inFlight.delete(id);
    }
  };
  await sleep(300); // the CID channels of x and y are confirmed by Redis within this
  const total = RATE * SECONDS;
  const start = Date.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - Date.now();
    if (wait > 1) await sleep(wait);
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(i);
    inFlight.set(i, process.hrtime.bigint());
    x.conn.send(signalMsg(`${y.cid}@ping`, buf));
  }
  await sleep(500);
  const lost = inFlight.size;
  inFlight = new Map();
  x.conn.close();
  y.conn.close();
  rtts.sort((p, q) => p - q);
  return { 'round trips': rtts.length, lost, 'p50 µs': Math.round(quantile(rtts, 0.5)), 'p99 µs': Math.round(quantile(rtts, 0.99)) };
}

async function main(): Promise<void> {
  const redisPort = await freePort();
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  children.push(redis);
  await sleep(300);
  const url = `redis://127.0.0.1:${redisPort}`;
  const single = await startNode([]);
  const nodeA = await startNode(['--cluster', url, '--node-id', 'A']);
  const nodeB = await startNode(['--cluster', url, '--node-id', 'B']);
  const rows: Record<string, unknown>[] = [];
  for (const transport of ['cong', 'ws'] as const) {
    rows.push({ scenario: `fan-out ${SUBS} subs, 64 B`, transport, setup: 'one node', ...(await fanOut([single], transport, null)) });
    rows.push({ scenario: `fan-out ${SUBS} subs, 64 B`, transport, setup: 'two nodes (half each)', ...(await fanOut([nodeA, nodeB], transport, redis.pid!)) });
    rows.push({ scenario: `ping-pong ${RATE}/s`, transport, setup: 'one node', ...(await pingPong([single], transport)) });
    rows.push({ scenario: `ping-pong ${RATE}/s`, transport, setup: 'two nodes (cross-node)', ...(await pingPong([nodeA, nodeB], transport)) });
  }
  // A publish nobody on another node wants: no Redis traffic at all.
  const before = await metric(nodeA, 'iosig_cluster_envelopes_sent_total{kind="data"');
  const local = await connectReady({ transport: 'cong', port: nodeA.cong, cid: true });
  local.conn.send(subscribeMsg('localonly'));
  for (let i = 0; i < 100; i++) local.conn.send(signalMsg('localonly', Buffer.alloc(8)));
  await sleep(300);
  const after = await metric(nodeA, 'iosig_cluster_envelopes_sent_total{kind="data"');
  local.conn.close();
  rows.push({ scenario: '100 publishes with local subscribers only', setup: 'two nodes', 'Redis msgs in/publish': (after - before) / 100 });
  for (const row of rows) console.log(JSON.stringify(row));
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    setTimeout(() => process.exit(), 200).unref();
  });
