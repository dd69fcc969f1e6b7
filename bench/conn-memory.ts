// What one idle connection holds in the server's JavaScript heap, per build, in one run: a server (createServer of
// each `--root` checkout, in turn; `ceiling` for bench/ceiling-server.ts) in this process, `--conns` connections
// from a child process (opening sequence and CID_REQ, then idle), garbage collected before and after; with
// `--snapshot`, a heap snapshot before and after, summed by constructor, so the objects behind the figure are named.
// Heap bytes are what the server keeps, whatever else runs on the host (unlike RSS, which also moves with V8's
// young-generation sizing and is what the storm of run.ts reports).
//
// Usage: node --expose-gc dist/bench/conn-memory.js [--transport ws|cong] [--conns 3000] [--rounds 2]
//        [--roots <checkout>,<checkout>|ceiling] [--snapshot] [--top 25]
// Each (root, round) runs in a fresh process (the parent forks itself with --one).
import { fork } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import { connectReady, pool, type Transport } from './lib/conn.js';

const argv = process.argv.slice(2);
function flag(name: string, def: string): string {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1]! : def;
}
const self = fileURLToPath(import.meta.url);
const transport = flag('--transport', 'ws') as Transport;
const conns = Number(flag('--conns', '3000'));
const snapshot = argv.includes('--snapshot');
const top = Number(flag('--top', '25'));

type Gc = () => void;
const gc = (globalThis as { gc?: Gc }).gc;

interface Measured {
  root: string;
  heapPerConn: number;
  rssPerConn: number;
  cpuUsPerConn: number;
  byConstructor: [string, number, number][];
}

/** The child that connects: `--client <port>`; keeps its connections until killed. */
async function client(port: number): Promise<void> {
  const kept: unknown[] = [];
  // Below the default per-address budget of sockets still opening (64).
  await pool(conns, 48, async () => {
    kept.push((await connectReady({ transport, port, cid: true, timeoutMs: 30_000 })).conn);
  });
  process.send!('ready');
  setInterval(() => kept.length, 60_000);
}

async function startServer(root: string): Promise<number> {
  if (root === 'ceiling') {
    const original = console.log;
    const ready = new Promise<string[]>((done) => {
      console.log = (...args: unknown[]): void => {
        const line = String(args[0]);
        if (line.startsWith('READY')) done(line.split(' '));
        else original(...args);
      };
    });
    process.argv.push('--port', '0', '--cong', '0');
    await import(pathToFileURL(join(self, '../ceiling-server.js')).href);
    const [, ws, cong] = await ready;
    console.log = original;
    return Number(transport === 'ws' ? ws : cong);
  }
  const mod = (await import(pathToFileURL(join(resolve(root), 'dist/src/index.js')).href)) as {
    createServer(o: object): Promise<{ wsPort?: number; congPort?: number }>;
  };
  const server = await mod.createServer({
    port: 0,
    congPort: 0,
    host: '127.0.0.1',
    timeout: 600_000,
    maxConnectionsPerAddress: 0,
    maxHandshakesPerAddress: 0,
    capShares: { share: 1, reserve: 0 },
  });
  return transport === 'ws' ? server.wsPort! : server.congPort!;
}

function settle(): void {
  for (let i = 0; i < 4; i++) gc!();
}

/** Self sizes summed by node type and name. */
function summarize(file: string): Map<string, [number, number]> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
  const sums = new Map<string, [number, number]>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!;
    const name = type.includes('string') ? '(string)' : type === 'number' ? '(heap number)' : snap.strings[snap.nodes[i + nameAt]!]!.slice(0, 60);
    const key = `${type}: ${name}`;
    const sum = sums.get(key) ?? [0, 0];
    sum[0]++;
    sum[1] += snap.nodes[i + sizeAt]!;
    sums.set(key, sum);
  }
  return sums;
}

async function measureOne(root: string): Promise<Measured> {
  const port = await startServer(root);
  await new Promise((done) => setTimeout(done, 300));
  const files = snapshot ? [join(tmpdir(), `conn-memory-${process.pid}-0.heapsnapshot`), join(tmpdir(), `conn-memory-${process.pid}-1.heapsnapshot`)] : [];
  settle();
  if (snapshot) v8.writeHeapSnapshot(files[0]);
  settle();
  const before = process.memoryUsage();
  const cpu = process.cpuUsage();
  const child = fork(self, ['--client', String(port), '--transport', transport, '--conns', String(conns)]);
  await new Promise<void>((done, fail) => {
    child.on('message', () => done());
    child.on('exit', (code) => fail(new Error(`client exited (${code})`)));
  });
  const used = process.cpuUsage(cpu);
  await new Promise((done) => setTimeout(done, 1000));
  settle();
  const after = process.memoryUsage();
  const byConstructor: [string, number, number][] = [];
  if (snapshot) {
    v8.writeHeapSnapshot(files[1]);
    const [a, b] = [summarize(files[0]!), summarize(files[1]!)];
    for (const [key, [count, bytes]] of b) {
      const [count0, bytes0] = a.get(key) ?? [0, 0];
      if (Math.abs(bytes - bytes0) >= conns * 2) byConstructor.push([key, (count - count0) / conns, (bytes - bytes0) / conns]);
    }
    byConstructor.sort((x, y) => y[2] - x[2]);
    for (const file of files) rmSync(file, { force: true });
  }
  child.kill();
  return {
    root,
    heapPerConn: (after.heapUsed - before.heapUsed) / conns,
    rssPerConn: (after.rss - before.rss) / conns,
    cpuUsPerConn: (used.user + used.system) / conns,
    byConstructor: byConstructor.slice(0, top),
  };
}

async function main(): Promise<void> {
  if (argv.includes('--client')) return client(Number(flag('--client', '0')));
  if (argv.includes('--one')) {
    if (!gc) throw new Error('run with node --expose-gc');
    process.send!(await measureOne(flag('--one', '.')));
    return;
  }
  const roots = flag('--roots', '.').split(',');
  const rounds = Number(flag('--rounds', '2'));
  const results = new Map<string, Measured[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const root of roots) {
      const child = fork(self, [...argv, '--one', root], { execArgv: ['--expose-gc'] });
      const measured = await new Promise<Measured>((done, fail) => {
        child.on('message', (m) => done(m as Measured));
        child.on('exit', (code) => fail(new Error(`${root} exited (${code})`)));
      });
      child.kill();
      console.log(
        `${transport} ${root} round ${round}: heap ${measured.heapPerConn.toFixed(0)} B/conn, RSS ${measured.rssPerConn.toFixed(0)} B/conn, CPU ${measured.cpuUsPerConn.toFixed(0)} µs/conn (the server's process while ${conns} connect)`,
      );
      for (const [key, count, bytes] of measured.byConstructor) console.log(`  ${bytes.toFixed(1).padStart(8)} B ${count.toFixed(2).padStart(6)}/conn  ${key}`);
      results.set(root, [...(results.get(root) ?? []), measured]);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`\nmedians over ${rounds} round(s), ${conns} ${transport} connections:`);
  for (const [root, list] of results) {
    console.log(`  ${root}: heap ${median(list.map((m) => m.heapPerConn)).toFixed(0)} B/conn, RSS ${median(list.map((m) => m.rssPerConn)).toFixed(0)} B/conn`);
  }
}

await main();
// The parent ends here; a measuring child is killed by its parent once its figures are in, a client by its server.
if (!argv.includes('--client') && !argv.includes('--one')) process.exit(0);
