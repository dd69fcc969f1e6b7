// A private 3-master Redis Cluster for tests: three redis-server processes with --cluster-enabled in a temp
// directory, joined by `redis-cli --cluster create`. Always torn down (processes killed, directory removed).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tool } from '../kit/tools.js';
import { Deadline, sleep, withTimeout } from '../kit/wait.js';

const START_TIMEOUT_MS = 15_000;

/** A port p with p and p + 10000 (the cluster bus port) both free. */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    if (taken.has(port)) continue;
    if ((await canBind(port)) && (await canBind(port + 10000))) return port;
  }
  throw new Error('no free port pair for a Redis Cluster node');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function redisCli(args: string[]): string {
  const out = spawnSync(tool('redis-cli'), args, { encoding: 'utf8', timeout: 10_000 });
  return `${out.stdout}${out.stderr}`;
}

export class RedisClusterProcs {
  private readonly children: ChildProcess[] = [];

  private constructor(
    readonly ports: number[],
    private readonly dir: string,
  ) {}

  /** Seed URL: any master will do, the client discovers the others. */
  get url(): string {
    return `redis://127.0.0.1:${this.ports[0]}`;
  }

  static async start(masters = 3): Promise<RedisClusterProcs> {
    const dir = mkdtempSync(join(tmpdir(), 'iosig-rcluster-'));
    const taken = new Set<number>();
    const ports: number[] = [];
    for (let i = 0; i < masters; i++) {
      const port = await freeClusterPort(taken);
      taken.add(port);
      ports.push(port);
    }
    const procs = new RedisClusterProcs(ports, dir);
    try {
      for (const port of ports) procs.spawnNode(port);
      await procs.waitFor(() => ports.every((p) => redisCli(['-p', String(p), 'ping']).includes('PONG')), 'masters answer PING');
      const created = redisCli(['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
      if (!created.includes('[OK]')) throw new Error(`redis-cli --cluster create failed: ${created.slice(-500)}`);
      await procs.waitFor(
        () => ports.every((p) => redisCli(['-p', String(p), 'cluster', 'info']).includes('cluster_state:ok')),
        'cluster_state:ok on every master',
      );
    } catch (err) {
      await procs.stop();
      throw err;
    }
    return procs;
  }

  private spawnNode(port: number): void {
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
      '--cluster-config-file', join(this.dir, `nodes-${port}.conf`), '--dir', this.dir,
      '--save', '', '--appendonly', 'no', '--cluster-node-timeout', '2000',
    ];
    this.children.push(spawn(tool('redis-server'), args, { stdio: 'ignore' }));
  }

  private async waitFor(cond: () => boolean, what: string): Promise<void> {
    const deadline = new Deadline(START_TIMEOUT_MS);
    while (!cond()) {
      if (deadline.expired) throw new Error(`Redis Cluster: timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        return withTimeout(exited, 3000, 'redis-server to exit');
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
