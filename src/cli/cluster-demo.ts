// `npm run cluster:demo`: a private redis-server and two io-server nodes joined over it, on this machine, without
// Docker. Ctrl-C stops all three. Ports: node 1 ws 7777 / cong 8888, node 2 ws 7778 / cong 8889 (or --base <port>).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'io-server.js');
const children: ChildProcess[] = [];

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

function run(name: string, command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const prefix = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) process.stdout.write(`[${name}] ${line}\n`);
  };
  child.stdout?.on('data', prefix);
  child.stderr?.on('data', prefix);
  child.on('exit', (code, signal) => {
    process.stdout.write(`[${name}] exited (${code ?? signal})\n`);
    if (!stopping) stop(1);
  });
  return child;
}

let stopping = false;
function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  setTimeout(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  }, 2000).unref();
}

const baseArg = process.argv.indexOf('--base');
const base = baseArg > 0 ? Number(process.argv[baseArg + 1]) : 7777;
const dir = mkdtempSync(join(tmpdir(), 'iosig-cluster-demo-'));
const redisPort = await freePort();
run('redis', 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]);
const url = `redis://127.0.0.1:${redisPort}`;
// Give redis-server a moment to bind; the nodes would also join later on their own.
await new Promise((r) => setTimeout(r, 300));
run('node1', process.execPath, [BIN, '-l', String(base), '-L', String(base + 1111), '--cluster', url, '--node-id', 'node1']);
run('node2', process.execPath, [BIN, '-l', String(base + 1), '-L', String(base + 1112), '--cluster', url, '--node-id', 'node2']);
process.stdout.write(
  [
    '',
    `cluster demo: redis ${url}`,
    `  node1: ws://127.0.0.1:${base}  cong://127.0.0.1:${base + 1111}`,
    `  node2: ws://127.0.0.1:${base + 1}  cong://127.0.0.1:${base + 1112}`,
    `  try:  io ws://127.0.0.1:${base}   and   io cong://127.0.0.1:${base + 1112}   (.listen / .signal across nodes)`,
    `  status: curl http://127.0.0.1:${base}/api/status   metrics: curl http://127.0.0.1:${base}/metrics`,
    '  Ctrl-C stops everything.',
    '',
  ].join('\n'),
);
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
