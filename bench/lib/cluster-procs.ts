// Processes of the cluster benchmark: a private redis-server and io-server nodes (single, --cluster, --workers),
// each optionally pinned to a CPU, with their CPU time and Prometheus counters read from outside.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childPids, freePort, procCpuUs, REPO_ROOT, sleep, spawnTracked } from './procs.js';
import type { Transport } from './conn.js';

export interface NodeProc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly ws: number;
  readonly cong: number;
  /** The processes whose CPU is the node's: the node itself, or the primary and its workers. */
  pids(): number[];
}

export const portOf = (node: NodeProc, transport: Transport): number => (transport === 'ws' ? node.ws : node.cong);

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function waitPorts(ports: number[], child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (const port of ports) {
    while (!(await portOpen(port))) {
      if (child.exitCode !== null) throw new Error(`${what} exited (code ${child.exitCode}) before port ${port} opened`);
      if (Date.now() > deadline) throw new Error(`${what}: port ${port} never opened`);
      await sleep(50);
    }
  }
}

export interface Redis {
  readonly url: string;
  readonly pid: number;
  stop(): void;
}

export async function startRedis(cpu: string | undefined): Promise<Redis> {
  const dir = mkdtempSync(join(tmpdir(), 'iosig-bench-redis-'));
  const port = await freePort();
  const child = spawnTracked(cpu, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], 'ignore');
  await waitPorts([port], child, 'redis-server');
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: () => {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Node flags for every io-server process (e.g. --cpu-prof to profile a run). */
export const nodeFlags: string[] = [];
/** The checkout whose bin/io-server.js runs (another, built checkout gives the figures before a change). */
export const serverRoot = { dir: REPO_ROOT };

/** `io-server` with keepalive probes out of the way; `extra` adds --cluster, --workers… */
/** bench/redis-echo.js: republishes `in` to `out` (the Redis floor of the ping-pong part). */
export async function startRedisEcho(cpu: string | undefined, url: string, inChannel: string, outChannel: string): Promise<ChildProcess> {
  const child = spawnTracked(cpu, process.execPath, [join(REPO_ROOT, 'dist/bench/redis-echo.js'), url, inChannel, outChannel], ['ignore', 'pipe', 'inherit']);
  await new Promise<void>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('READY')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-echo exited (code ${code})`)));
  });
  return child;
}

export async function startNode(name: string, cpu: string | undefined, extra: string[], workers = 0): Promise<NodeProc> {
  const ws = await freePort();
  const cong = await freePort();
  const args = [...nodeFlags, join(serverRoot.dir, 'bin/io-server.js'), '-l', String(ws), '-L', String(cong), '--host', '127.0.0.1', '-t', '600000', ...extra];
  const child = spawnTracked(cpu, process.execPath, args, ['ignore', 'ignore', 'inherit']);
  await waitPorts([ws, cong], child, `node ${name}`);
  if (workers > 0) {
    // Both workers must be listening before connections are spread over them.
    const deadline = Date.now() + 30_000;
    while (childPids(child.pid!).length < workers && Date.now() < deadline) await sleep(50);
    await sleep(1500);
  }
  const pid = child.pid!;
  return { name, child, ws, cong, pids: () => (workers > 0 ? [pid, ...childPids(pid)] : [pid]) };
}

export const cpuOf = (pids: number[]): number[] =>
  pids.map((pid) => {
    try {
      return procCpuUs(pid);
    } catch {
      return NaN;
    }
  });

/** Sum of a counter over its series (labels filtered by `labelPart`), from the node's /metrics. */
export async function counter(node: NodeProc, name: string, labelPart = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${node.ws}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (labelPart && !line.includes(labelPart)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export interface BusCounters {
  /** Data envelopes sent (one per publish). */
  dataSent: number;
  /** Redis messages (PUBLISH) carrying them, and the node subscriptions Redis delivered those to. */
  redisIn: number;
  redisOut: number;
  /** Data envelopes received from other nodes. */
  received: number;
}

export async function busCounters(node: NodeProc): Promise<BusCounters> {
  const [dataSent, redisIn, redisOut, received] = await Promise.all([
    counter(node, 'iosig_cluster_envelopes_sent_total', 'kind="data"'),
    counter(node, 'iosig_cluster_redis_messages_total', 'direction="in"'),
    counter(node, 'iosig_cluster_redis_messages_total', 'direction="out"'),
    counter(node, 'iosig_cluster_envelopes_received_total'),
  ]);
  return { dataSent, redisIn, redisOut, received };
}

export async function stopNode(node: NodeProc): Promise<void> {
  if (node.child.exitCode !== null) return;
  const gone = new Promise<void>((r) => node.child.once('exit', () => r()));
  node.child.kill('SIGTERM');
  const t = setTimeout(() => node.child.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(t);
}

/** Two nodes in one process on a memory hub (bench/servers/memory-pair.js): the same process, so the same pids. */
export async function startMemoryPair(cpu: string | undefined): Promise<[NodeProc, NodeProc]> {
  const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
  const child = spawnTracked(cpu, process.execPath, [...nodeFlags, join(serverRoot.dir, 'dist/bench/servers/memory-pair.js'), ...ports.map(String)], ['ignore', 'ignore', 'inherit']);
  await waitPorts(ports, child, 'memory pair');
  const pid = child.pid!;
  const node = (name: string, ws: number, cong: number): NodeProc => ({ name, child, ws, cong, pids: () => [pid] });
  return [node('memory A', ports[0]!, ports[1]!), node('memory B', ports[2]!, ports[3]!)];
}
