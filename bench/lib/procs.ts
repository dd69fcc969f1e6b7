// Child-process plumbing for the bench runner: servers under test, load
// generator workers, CPU pinning and /proc sampling.
import { spawn, execFileSync, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { WorkerCmd, WorkerReply } from '../worker.js';

export const BENCH_DIST = fileURLToPath(new URL('..', import.meta.url)); // dist/bench/
export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

const live = new Set<ChildProcess>();

/** Kill every child we started (used on exit and on signals). */
export function killAll(): void {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
  live.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => { killAll(); process.exit(130); });
}

let tasksetOk: boolean | undefined;
export function hasTaskset(): boolean {
  if (tasksetOk === undefined) {
    try { execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' }); tasksetOk = true; } catch { tasksetOk = false; }
  }
  return tasksetOk;
}

export function pinSelf(cpu: string): void {
  if (!hasTaskset()) return;
  try { execFileSync('taskset', ['-p', '-c', cpu, String(process.pid)], { stdio: 'ignore' }); } catch { /* ignore */ }
}

type Stdio = Parameters<typeof spawn>[2]['stdio'];

/** spawn `command args` pinned to `cpu` (if taskset exists; taskset execs, so the pid is the command's), killed on exit. */
export function spawnTracked(cpu: string | undefined, command: string, args: string[], stdio: Stdio): ChildProcess {
  const p = cpu !== undefined && hasTaskset()
    ? spawn('taskset', ['-c', cpu, command, ...args], { stdio, cwd: REPO_ROOT })
    : spawn(command, args, { stdio, cwd: REPO_ROOT });
  live.add(p);
  p.once('exit', () => live.delete(p));
  return p;
}

/** spawn `node args` pinned to `cpu` (if taskset exists). */
function spawnNode(cpu: string | undefined, args: string[], stdio: Stdio): ChildProcess {
  return spawnTracked(cpu, process.execPath, args, stdio);
}

/** Pids of the live children of `pid` (from /proc/<n>/stat: the kernel may not offer /proc/<pid>/task/…/children). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const s = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === pid) out.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return out.sort((a, b) => a - b);
}

let clkTck = 100;
try { clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100; } catch { /* default */ }

/** utime+stime of a process in microseconds (all threads, from /proc/<pid>/stat). */
export function procCpuUs(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / clkTck;
}

/** VmRSS of a process in bytes. */
export function procRssBytes(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(s);
  return m ? Number(m[1]) * 1024 : NaN;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- servers

/**
 * `iosig` serves HTTP and scrapes its own /metrics every second; `iosig-nohttp` serves no HTTP at all;
 * `iosig-base` is `iosig` from another built checkout (`--base <dir>`), for a before/after in one run: the same
 * launcher (this checkout's, so both sides get the same options) loading that checkout's dist/src.
 */
export type ServerKind = 'iosig' | 'iosig-nohttp' | 'iosig-base' | 'iosignal' | 'ceiling';

export interface ServerProc {
  kind: ServerKind;
  pid: number;
  wsPort: number;
  congPort: number;
  exited: { code: number | null; signal: string | null } | null;
  tail: string[];
  /** Started with --expose-gc and collects garbage on SIGUSR2 (see servers/gc-on-signal.ts). */
  collectsOnSignal: boolean;
  stop(): Promise<void>;
}

export interface ServerStartOpts {
  /** 'launcher' (bench/servers/iosig.ts) or 'cli' (node bin/io-server.js -l -L). */
  iosigMode: 'launcher' | 'cli';
  cpu: string | undefined;
  /** Root of the built checkout `iosig-base` runs (its dist/src, through this checkout's launcher). */
  baseRoot?: string;
}

function waitPort(port: number, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`port ${port} never opened`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export async function startServer(kind: ServerKind, o: ServerStartOpts): Promise<ServerProc> {
  // iosignal treats 0 as "no listener", so it gets ports picked here (a small
  // race: something else may take them first). The others pick their own.
  const pick = kind === 'iosignal' || (kind === 'iosig' && o.iosigMode === 'cli');
  const wsPort = pick ? await freePort() : 0;
  const congPort = pick ? await freePort() : 0;
  let args: string[];
  let readyByPort = false;
  if (kind === 'ceiling') args = ['--expose-gc', BENCH_DIST + 'ceiling-server.js', '--port', String(wsPort), '--cong', String(congPort)];
  else if (kind === 'iosignal') args = ['--expose-gc', BENCH_DIST + 'servers/iosignal.js', '--port', String(wsPort), '--cong', String(congPort)];
  else if (kind === 'iosig-base') {
    if (o.baseRoot === undefined) throw new Error('iosig-base needs --base <checkout>');
    // This checkout's launcher with the other checkout's build: both sides start with the same options.
    args = ['--expose-gc', BENCH_DIST + 'servers/iosig.js', '--root', o.baseRoot, '--port', String(wsPort), '--cong', String(congPort)];
  } else if (o.iosigMode === 'cli') {
    args = [REPO_ROOT + 'bin/io-server.js', '-l', String(wsPort), '-L', String(congPort), '-t', '600000'];
    readyByPort = true;
  } else {
    args = ['--expose-gc', BENCH_DIST + 'servers/iosig.js', '--port', String(wsPort), '--cong', String(congPort)];
    if (kind === 'iosig-nohttp') args.push('--no-http');
  }

  const p = spawnNode(o.cpu, args, ['ignore', 'pipe', 'pipe']);
  let scraper: NodeJS.Timeout | undefined;
  const sp: ServerProc = {
    kind, pid: p.pid ?? -1, wsPort, congPort, exited: null, tail: [],
    // The io-server CLI has no SIGUSR2 handler (the signal would end it), so only launchers collect on demand.
    collectsOnSignal: !(kind === 'iosig' && o.iosigMode === 'cli'),
    stop: async () => {
      if (scraper) clearInterval(scraper);
      if (sp.exited) return;
      const gone = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 1500);
      await gone;
      clearTimeout(t);
    },
  };
  let readyResolve: (() => void) | undefined;
  let readyReject: ((e: Error) => void) | undefined;
  const ready = new Promise<void>((res, rej) => { readyResolve = res; readyReject = rej; });
  const onLine = (line: string): void => {
    sp.tail.push(line);
    if (sp.tail.length > 30) sp.tail.shift();
    const m = /^READY (\d+) (\d+)/.exec(line);
    if (m) { sp.wsPort = Number(m[1]); sp.congPort = Number(m[2]); readyResolve?.(); }
  };
  for (const stream of [p.stdout!, p.stderr!]) {
    let acc = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      acc += d;
      let i: number;
      while ((i = acc.indexOf('\n')) >= 0) { onLine(acc.slice(0, i)); acc = acc.slice(i + 1); }
      if (acc.length > 10000) acc = acc.slice(-1000);
    });
  }
  p.once('exit', (code, signal) => {
    sp.exited = { code, signal };
    const errLine = sp.tail.find((l) => /Error|error:/.test(l)) ?? sp.tail.slice(-3).join(' | ');
    readyReject?.(new Error(`${kind} server exited before READY (code ${code}, signal ${signal}): ${errLine.trim()}`));
  });
  const deadline = Date.now() + 20000;
  if (readyByPort) {
    await Promise.race([Promise.all([waitPort(wsPort, deadline), waitPort(congPort, deadline)]), ready.then(() => [])]);
  } else {
    const t = setTimeout(() => readyReject?.(new Error(`${kind} server: no READY line within 20 s`)), 20000);
    try { await ready; } finally { clearTimeout(t); }
  }
  // iosig with HTTP on is scraped once a second from this process, as Prometheus would from its own.
  if ((kind === 'iosig' || kind === 'iosig-base') && sp.wsPort > 0) {
    scraper = setInterval(() => {
      fetch(`http://127.0.0.1:${sp.wsPort}/metrics`).then((r) => r.text()).catch(() => '');
    }, 1000);
  }
  return sp;
}

// ---------------------------------------------------------------- workers

export class WorkerProc {
  readonly proc: ChildProcess;
  private waiters: { pred: (m: WorkerReply) => boolean; resolve: (m: WorkerReply) => void }[] = [];
  onMin: (v: number) => void = () => {};
  exited = false;

  constructor(cpu: string | undefined) {
    this.proc = spawnNode(cpu, [BENCH_DIST + 'worker.js'], ['ignore', 'inherit', 'inherit', 'ipc']);
    this.proc.on('message', (m: WorkerReply) => {
      if (m.t === 'min') { this.onMin(m.v); return; }
      const i = this.waiters.findIndex((w) => w.pred(m));
      if (i >= 0) { const [w] = this.waiters.splice(i, 1); w!.resolve(m); }
    });
    this.proc.once('exit', () => { this.exited = true; });
  }

  send(cmd: WorkerCmd): void {
    if (!this.exited && this.proc.connected) this.proc.send(cmd);
  }

  /** Sends a command and waits for its ok/err (or snap) reply. */
  request(cmd: WorkerCmd, timeoutMs: number): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      const id = cmd.t === 'snap' ? cmd.id : undefined;
      const pred = (m: WorkerReply): boolean => (id !== undefined ? m.t === 'snap' && m.id === id : m.t === 'ok' || m.t === 'err');
      const t = setTimeout(() => {
        const i = this.waiters.findIndex((w) => w.pred === pred);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`worker: no reply to ${cmd.t} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(t);
          if (m.t === 'err') reject(new Error(m.msg)); else resolve(m);
        },
      });
      this.send(cmd);
    });
  }

  async exit(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.send({ t: 'exit' });
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
}

/** The real io-server CLI of a checkout, on free ports of 127.0.0.1. */
export interface CliServer {
  child: ChildProcessByStdio<null, Readable, Readable>;
  ws: number;
  cong: number;
}

/**
 * Starts `bin/io-server.js` of checkout `root` with `-l 0 -L 0 --host 127.0.0.1 -t 600000` and `args`; resolves
 * once its banner names both ports.
 */
export function startIoServerCli(root: string, args: string[] = []): Promise<CliServer> {
  const argv = [join(root, 'bin', 'io-server.js'), '-l', '0', '-L', '0', '--host', '127.0.0.1', '-t', '600000', ...args];
  const child = spawn(process.execPath, argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((done, fail) => {
    const look = (chunk: Buffer): void => {
      out += chunk.toString();
      const ws = /ws:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      const cong = /cong:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (ws && cong) done({ child, ws: Number(ws[1]), cong: Number(cong[1]) });
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('exit', (code) => fail(new Error(`io-server exited (${code}): ${out}`)));
  });
}
