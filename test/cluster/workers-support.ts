// A real `io-server --workers 2 --cluster …` host for tests: its worker processes (children of the primary, read
// from /proc), the workers that serve (each prints its `ports:` line once it listens), each worker's /metrics
// (the primary serves no HTTP), and whether a connection gets in. Nothing here depends on what the primary logs,
// so the same tests run against any build.
import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import { after, before } from 'node:test';
import { NodeProcess } from './node-process.js';
import { RedisServerProcess } from '../kit/redis-server.js';
import { request } from '../http/support.js';
import { CHILD_PROCESS_DEADLINE_MS, sleep } from '../kit/wait.js';
import type { RawClient, RawClientOptions, Transport } from '../kit/raw-client.js';
import { getsIn } from '../kit/gets-in.js';

const SERVING = /^ports: websocket/;

/** Process start time in clock ticks since boot (/proc/<pid>/stat field 22): orders the workers by age. */
function startTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

export class WorkerHost {
  /** How /metrics is reached: over TLS with these settings (a client certificate under mutual TLS), else plain HTTP. */
  metricsTls: tls.ConnectionOptions | undefined;

  private constructor(
    readonly node: NodeProcess,
    readonly nodeId: string,
    readonly count: number,
  ) {}

  /** Starts the primary with `count` workers and waits until every worker serves. */
  static async start(redisUrl: string, nodeId: string, args: string[], count = 2): Promise<WorkerHost> {
    const node = await NodeProcess.start(['--cluster', redisUrl, '--node-id', nodeId, '--workers', String(count), ...args]);
    const host = new WorkerHost(node, nodeId, count);
    try {
      await host.waitAllServing();
    } catch (err) {
      await node.stop();
      throw err;
    }
    return host;
  }

  get wsPort(): number {
    return this.node.wsPort;
  }

  get congPort(): number {
    return this.node.congPort;
  }

  /** What the primary said (`io-server: …` lines). */
  get lines(): string[] {
    return this.node.events.filter((line) => line.startsWith('io-server: '));
  }

  /** Worker starts that reached serving, since the primary started. */
  get servingStarts(): number {
    return this.node.events.filter((line) => SERVING.test(line)).length;
  }

  /** The worker processes alive now (children of the primary), oldest first. */
  workerPids(): number[] {
    let text = '';
    try {
      text = readFileSync(`/proc/${this.node.pid}/task/${this.node.pid}/children`, 'utf8');
    } catch {
      return [];
    }
    const pids = text.split(' ').filter((pid) => pid !== '').map(Number);
    return pids.sort((a, b) => startTicks(a) - startTicks(b));
  }

  /**
   * Waits until `starts` worker starts have served (default: the first `count`) and `count` workers are alive.
   * Fails at once when the primary exits.
   */
  async waitAllServing(starts = this.count, timeoutMs = CHILD_PROCESS_DEADLINE_MS): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.servingStarts < starts || this.workerPids().length < this.count) {
      const exited = this.node.exited;
      if (exited) throw new Error(`the primary exited (${exited.code ?? exited.signal}):\n${this.lines.slice(-15).join('\n')}`);
      if (Date.now() > end) throw new Error(`${starts} serving worker starts never came:\n${this.lines.slice(-15).join('\n')}`);
      await sleep(25);
    }
  }

  /**
   * SIGKILL to a worker (the oldest, so that repeated kills alternate): it dies without a goodbye, as a crash
   * would. Resolves once the primary has reaped it (its 'exit' handlers ran). Returns the pid.
   */
  async killWorker(which: 'oldest' | number = 'oldest'): Promise<number> {
    const pid = which === 'oldest' ? this.workerPids()[0] : which;
    if (pid === undefined) throw new Error('no worker to kill');
    process.kill(pid, 'SIGKILL');
    const end = Date.now() + CHILD_PROCESS_DEADLINE_MS;
    while (this.workerPids().includes(pid)) {
      if (Date.now() > end) throw new Error(`worker ${pid} was never reaped`);
      await sleep(10);
    }
    return pid;
  }

  /** One /metrics body per worker (the kernel spreads requests over the workers; asked until each answered). */
  async scrapeEach(): Promise<string[]> {
    const bodies = new Map<string, string>();
    for (let attempt = 0; bodies.size < this.count; attempt++) {
      if (attempt >= 200) throw new Error(`only ${[...bodies.keys()].join(', ')} answered /metrics`);
      const { body } = await request(this.wsPort, '/metrics', this.metricsTls ? { tls: this.metricsTls } : {});
      const node = /node="([^"]+)"/.exec(body)?.[1];
      if (node && !bodies.has(node)) bodies.set(node, body);
    }
    return [...bodies.values()];
  }

  /** A metric summed over every worker (counters such as refusals and login failures). */
  async sum(name: string, labels: Record<string, string> = {}): Promise<number> {
    let total = 0;
    for (const body of await this.scrapeEach()) total += metricValue(body, name, labels);
    return total;
  }

  stop(): Promise<void> {
    return this.node.stop();
  }
}

/** The sum of the samples of `name` whose labels include `labels`, in one Prometheus text body. */
export function metricValue(body: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of body.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) total += Number(m[3]);
  }
  return total;
}

/**
 * A private redis-server and a WorkerHost for the describe block this is called in (its before/after hooks).
 * `args` may be a function, read when the host starts (after the block's earlier `before` hooks, e.g. one that
 * makes certificates).
 */
export function workerHostFixture(nodeId: string, args: string[] | (() => string[])): { readonly host: WorkerHost; readonly redis: RedisServerProcess } {
  let redis: RedisServerProcess | undefined;
  let host: WorkerHost | undefined;
  before(async () => {
    redis = await RedisServerProcess.start();
    host = await WorkerHost.start(redis.url, nodeId, typeof args === 'function' ? args() : args);
  });
  after(async () => {
    await host?.stop();
    await redis?.stop();
  });
  return {
    get host() {
      return host!;
    },
    get redis() {
      return redis!;
    },
  };
}

export async function closeAll(clients: RawClient[]): Promise<void> {
  await Promise.all(clients.splice(0).map((c) => c.close(500)));
}

/**
 * Connections from `address` that get in, one after another, until `n` did (or 200 tries): places come back a
 * moment after their connections close (the worker tells the primary over IPC).
 */
export async function getInAgain(kind: Transport, port: number, address: string, n: number, keep: RawClient[], opts: RawClientOptions = {}): Promise<number> {
  let inside = 0;
  for (let tries = 0; inside < n && tries < 200; tries++) {
    if (await getsIn(kind, port, address, keep, opts)) inside++;
    else await sleep(20);
  }
  return inside;
}
