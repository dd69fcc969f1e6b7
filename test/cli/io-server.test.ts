// End-to-end tests of the io-server command: spawns bin/io-server.js and talks to it over TCP and WebSocket.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { Console } from 'node:console';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { type Readable, Writable } from 'node:stream';
import WebSocket from 'ws';
import { TrafficWindow, connectionEntries } from '../../src/cli/metric-tables.js';
import { planServer, printMetrics, type ServerPlan } from '../../src/cli/io-server.js';
import { createServer } from '../../src/index.js';
import { bannerLines, box } from '../../src/cli/banner.js';
import { watchChild } from '../kit/child-output.js';
import { serverOf, viewsOf } from '../kit/inside.js';
import { HELP_DEFAULTS, formatBytes, type DefaultedFlag } from '../../src/cli/server-defaults.js';
import { SERVER_DEFAULTS, resolveOptions } from '../../src/options.js';
import { ROOT } from '../kit/server.js';

const BIN = join(ROOT, 'bin', 'io-server.js');

type Child = ChildProcessByStdio<null, Readable, Readable>;

interface Cli {
  child: Child;
  out: () => string;
  err: () => string;
  /** Resolves when `test` matches stdout+stderr; rejects at the deadline or if the process exits first. */
  waitFor: (test: RegExp, ms: number) => Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal name) and how long after the call it came. */
  exited: (ms: number) => Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number }>;
}

const children = new Set<Child>();

function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

function run(args: string[]): Cli {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const watched = watchChild(child);
  const waitFor = (test: RegExp, ms: number): Promise<RegExpMatchArray> =>
    watched.until(
      () => {
        const match = (watched.out() + watched.err()).match(test);
        if (match !== null) return match;
        const ended = watched.exit();
        if (ended !== undefined) {
          throw new Error(`io-server exited (${ended.code ?? ended.signal}) before ${test}\nstdout: ${watched.out()}\nstderr: ${watched.err()}`);
        }
        return undefined;
      },
      String(test),
      ms,
    );
  const exited = (ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number }> => {
    const start = Date.now();
    return watched.until(() => watched.exit(), 'exit of io-server', ms).then((ended) => ({ ...ended, afterMs: Date.now() - start }));
  };

  return { child, out: watched.out, err: watched.err, waitFor, exited };
}

const WS_LOCAL = /- Local: +ws:\/\/localhost:(\d+)/;
const CONG_LOCAL = /- Local: +cong:\/\/localhost:(\d+)/;

/** Reads `count` bytes from a fresh TCP connection, with a deadline. */
function readTcp(port: number, count: number, ms: number): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`only ${data.length} of ${count} bytes within ${ms} ms`)), ms);
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      if (error !== undefined) reject(error);
      else resolvePromise(data.subarray(0, count));
    };
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length >= count) finish();
    });
    socket.on('error', (error) => finish(error));
  });
}

/** Collects the first `count` binary messages of a WebSocket connection, with a deadline. */
function readWs(port: number, count: number, ms: number): Promise<Buffer[]> {
  return new Promise((resolvePromise, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const messages: Buffer[] = [];
    const timer = setTimeout(() => finish(new Error(`only ${messages.length} of ${count} messages within ${ms} ms`)), ms);
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      ws.terminate();
      if (error !== undefined) reject(error);
      else resolvePromise(messages);
    };
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      assert.equal(isBinary, true, 'the server must send binary frames only');
      messages.push(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));
      if (messages.length >= count) finish();
    });
    ws.on('error', (error) => finish(error));
  });
}

/** Resolves like `promise`, or rejects once `ms` have passed. */
async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Binds a plain TCP listener on a free port (all interfaces), to make that port busy. */
function occupyPort(): Promise<net.Server> {
  return new Promise((resolvePromise, reject) => {
    const server = net.createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(0, '0.0.0.0', () => resolvePromise(server));
  });
}

function portOf(server: net.Server): number {
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

/** planServer in this process: the exit code (or the plan) and what it wrote. */
async function plan(args: string[]): Promise<{ result: ServerPlan; out: string; err: string }> {
  let out = '';
  let err = '';
  const io = { out: (text: string) => void (out += text), err: (text: string) => void (err += text), env: process.env };
  const result = await planServer(['node', 'io-server', ...args], io, () => undefined);
  return { result, out, err };
}

function exitCode(result: ServerPlan): number | null {
  return result.kind === 'exit' ? result.code : null;
}

// The command line is parsed and checked in process (planServer, what main runs first); bin/io-server.js runs as a
// child process where the process itself is the subject: exit codes, signals, bound ports, the printed banner.
describe('io-server command line', () => {
  afterEach(killAll);
  after(killAll);
  it('prints the usage box and exits 1 without -l or -L (Q16)', async () => {
    const { result, out, err } = await plan([]);
    assert.equal(exitCode(result), 1);
    const text = out + err;
    for (const hint of ['io-server -l 7777 ', 'io-server -L 8888 ', 'io-server -l 7777 -L 8888', 'io-server -h']) {
      assert.ok(text.includes(hint), `usage box lacks "${hint}":\n${text}`);
    }
    assert.ok(text.includes('┌') && text.includes('┘'), 'the hints are in a box');
    assert.doesNotMatch(text, /\n\s+at /, 'no stack trace');
  });

  it('-V prints the iosig and protocol versions', async () => {
    const { result, out } = await plan(['-V']);
    assert.equal(exitCode(result), 0);
    const pkg: unknown = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const version: unknown = typeof pkg === 'object' && pkg !== null ? Reflect.get(pkg, 'version') : undefined;
    assert.equal(typeof version, 'string');
    assert.match(out, new RegExp(`^iosig ${String(version).replace(/\./g, '\\.')}\\b`));
    assert.match(out, /iosignal protocol 5\./);
  });

  it('-h lists the options with the corrected -m help (Q17)', async () => {
    const { result, out } = await plan(['-h']);
    assert.equal(exitCode(result), 0);
    for (const flag of ['--listen', '--listen-congport', '--timeout', '--show-message', '--metric', '--show-options', '--host', '--trusted-proxy']) {
      assert.ok(out.includes(flag), `help lacks ${flag}`);
    }
    assert.match(out, /2\s+=\s+connections/);
    assert.doesNotMatch(out, /2:echo/);
  });

  it('-h prints every default from the one table in src/options.ts, and the README option table agrees', async () => {
    const { result, out } = await plan(['-h']);
    assert.equal(exitCode(result), 0);
    // One entry per option: commander starts each at "  -" and indents its continuation lines further.
    const entries = out.split(/\n(?= {2}-)/).map((entry) => entry.replace(/\s+/g, ' ').trim());
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n');
    const expected: Record<DefaultedFlag, string> = {
      '--host': SERVER_DEFAULTS.host,
      '--timeout': String(SERVER_DEFAULTS.timeout),
      '--show-message': SERVER_DEFAULTS.showMessage,
      '--max-message': formatBytes(SERVER_DEFAULTS.maxMessageSize),
      '--max-backpressure': formatBytes(SERVER_DEFAULTS.maxBackpressure),
      '--slow-consumer': SERVER_DEFAULTS.slowConsumer,
      '--write-deadline': String(SERVER_DEFAULTS.writeDeadline),
      '--max-backlog': `${SERVER_DEFAULTS.backlogCapFactor} × --max-backpressure`,
      '--max-backlog-total': 'an eighth of the memory, 64 MiB to 1 GiB',
      '--max-inbound-total': 'an eighth of the memory, 64 MiB to 1 GiB',
      '--trusted-proxy': SERVER_DEFAULTS.trustedProxies.join(' '),
      '--duplicate-login': SERVER_DEFAULTS.duplicateLogin,
      '--auth-fail-delay': String(SERVER_DEFAULTS.authFailDelay),
      '--max-subscriptions': String(SERVER_DEFAULTS.maxSubscriptionsPerConnection),
      '--max-channels': String(SERVER_DEFAULTS.maxChannels),
      '--max-retained-bytes': formatBytes(SERVER_DEFAULTS.maxRetainedBytes),
      '--address-share': String(SERVER_DEFAULTS.capShares.share),
      '--login-reserve': String(SERVER_DEFAULTS.capShares.reserve),
      '--duplicate-probe': String(SERVER_DEFAULTS.duplicateProbeTimeout),
      '--max-handshakes-per-address': String(SERVER_DEFAULTS.maxHandshakesPerAddress),
      '--handshake-timeout': String(SERVER_DEFAULTS.handshakeTimeout),
      '--opening-timeout': String(SERVER_DEFAULTS.openingTimeout),
      '--max-plain-json': formatBytes(SERVER_DEFAULTS.maxPlainJson),
    };
    assert.deepEqual(HELP_DEFAULTS, expected);
    for (const [flag, value] of Object.entries(expected)) {
      const entry = entries.find((text) => text.startsWith(`${flag} `) || new RegExp(`^-\\w, ${flag} `).test(text));
      assert.ok(entry, `help lacks ${flag}`);
      assert.ok(entry.includes(`(default: ${value})`), `help for ${flag} shows its default ${value}: ${entry}`);
      const row = readme.find((line) => line.startsWith('| `') && line.split('|')[1]!.includes(flag));
      assert.ok(row, `README has a row for ${flag}`);
      assert.ok(row.replace(/\\\|/g, '|').includes(value), `README row for ${flag} states the default ${value}: ${row}`);
    }
    assert.equal(formatBytes(16 * 1024 * 1024), '16 MiB');
    assert.equal(formatBytes(20 * 1024 * 1024 + 64), '20 MiB + 64');
    assert.equal(formatBytes(600), '600');
  });

  it('attaches built-in services with -a, clamps -t below 1000 ms with a notice, prints the options with -o', async () => {
    const { result: bad, out: badOut, err: badErr } = await plan(['-l', '0', '-a', 'bogus']);
    assert.equal(exitCode(bad), 2);
    assert.match(badErr, /unknown service "bogus"/);
    assert.equal(WS_LOCAL.test(badOut), false, 'nothing was started');
    const planned = await plan(['-L', '0', '-t', '10', '-a', 'reply', 'sudo', '-o']);
    assert.equal(planned.result.kind, 'serve');
    assert.match(planned.err, /--timeout 10 ms is below the minimum, using 1000 ms/);
    // The process: services attached, the clamped timeout and the bound port printed by -o.
    const cli = run(['-L', '0', '-t', '10', '-a', 'reply', 'sudo', '-o']);
    await cli.waitFor(/services: reply, sudo/, 10_000);
    assert.match(cli.err(), /--timeout 10 ms is below the minimum, using 1000 ms/);
    assert.match(cli.out(), /timeout: 1000\b/);
    assert.match(cli.out(), /ports: websocket off, congsocket \d+/);
    cli.child.kill('SIGTERM');
    assert.equal((await cli.exited(5_000)).code, 0);
  });

  it('--allow-cleartext-bearer lets bearer keys over plain ws:// in (off by default)', async () => {
    const on = await plan(['-l', '0', '--allow-cleartext-bearer']);
    assert.ok(on.result.kind === 'serve' && on.result.input.allowCleartextBearer === true);
    const off = await plan(['-l', '0']);
    assert.ok(off.result.kind === 'serve' && off.result.input.allowCleartextBearer === undefined);
    assert.equal(resolveOptions({ port: 0 }).allowCleartextBearer, false);
  });

  it('--address-share and --login-reserve set the shares of the global state caps (a fraction or a percentage)', async () => {
    const { result } = await plan(['-l', '0', '--address-share', '25%', '--login-reserve', '0.05']);
    assert.equal(result.kind, 'serve');
    assert.deepEqual(result.kind === 'serve' ? result.input.capShares : null, { share: 0.25, reserve: 0.05 });
    const { result: one } = await plan(['-l', '0', '--address-share', '1']);
    assert.deepEqual(one.kind === 'serve' ? one.input.capShares : null, { share: 1 });
  });

  it('--cluster-bus-rate sets the bus budget of a cluster node, and needs --cluster', async () => {
    const args = ['-l', '0', '--cluster', 'redis://127.0.0.1:1', '--cluster-mode', 'standalone'];
    const { result } = await plan([...args, '--cluster-bus-rate', '1048576']);
    assert.equal(result.kind === 'serve' ? result.input.cluster?.busRate : null, 1_048_576);
    const { result: off } = await plan([...args, '--cluster-bus-rate', '0']);
    assert.equal(off.kind === 'serve' ? off.input.cluster?.busRate : null, 0, '0 turns the budget off');
    for (const bad of [['-l', '0', '--cluster-bus-rate', '1000'], [...args, '--cluster-bus-rate', 'fast']]) {
      const { result: refused, err } = await plan(bad);
      assert.equal(exitCode(refused), 2, bad.join(' '));
      assert.match(err, /io-server: error: /);
    }
  });

  it('rejects bad option values with exit code 2', async () => {
    const cases = [
      ['-l', 'abc'],
      ['-L', '70000'],
      ['-l', '0', '-s', 'loud'],
      ['-l', '0', '-m', '4'],
      ['-l', '0', '-t', 'soon'],
      ['-l', '0', 'extra'],
      ['-l', '0', '--quota', 'speed'],
      ['-l', '0', '--duplicate-login', 'both'],
      ['-l', '0', '--tls-key', 'k.pem'],
      ['-l', '0', '--address-share', '0'],
      ['-l', '0', '--address-share', '1.5'],
      ['-l', '0', '--login-reserve', '1'],
      ['-l', '0', '--login-reserve', 'half'],
    ];
    for (const args of cases) {
      const { result, err } = await plan(args);
      assert.equal(exitCode(result), 2, `${args.join(' ')} → ${exitCode(result)}`);
      assert.match(err, /io-server: error: /);
      assert.doesNotMatch(err, /\n\s+at /, 'no stack trace');
    }
    // The process exits with that code, its stderr carries the same line.
    const cli = run(['-l', 'abc']);
    assert.equal((await cli.exited(10_000)).code, 2);
    assert.match(cli.err(), /io-server: error: /);
    assert.doesNotMatch(cli.err(), /\n\s+at /, 'no stack trace');
  });

  it('serves both transports on port 0, shows the bound ports and -m 1, exits 0 on SIGTERM', async () => {
    const cli = run(['-l', '0', '-L', '0', '-m', '1']);
    const [, wsText] = await cli.waitFor(WS_LOCAL, 10_000);
    const [, congText] = await cli.waitFor(CONG_LOCAL, 10_000);
    const wsPort = Number(wsText);
    const congPort = Number(congText);
    assert.ok(wsPort > 0 && congPort > 0 && wsPort !== congPort);
    const banner = cli.out();
    assert.match(banner, /Serving/);
    assert.match(banner, new RegExp(`- Network: ws://\\d+\\.\\d+\\.\\d+\\.\\d+:${wsPort}`));
    assert.match(banner, new RegExp(`- Network: cong://\\d+\\.\\d+\\.\\d+\\.\\d+:${congPort}`));
    assert.match(banner, new RegExp(`Arduino +- host: \\d+\\.\\d+\\.\\d+\\.\\d+ +- port: ${congPort}`));
    assert.match(banner, new RegExp(`Dashboard: http://localhost:${wsPort}/`));
    assert.match(banner, new RegExp(`Metrics: +http://localhost:${wsPort}/metrics`));
    assert.equal(banner.includes('\x1b['), false, 'no colour when stdout is not a TTY');
    await cli.waitFor(/monitor metric type: 1 \(.*every 5 s\)/, 10_000);

    // CongSocket: SERVER_TIME_NONCE (13 bytes, type-1 frame) then SERVER_READY.
    const cong = await readTcp(congPort, 18, 5_000);
    assert.deepEqual([...cong.subarray(0, 3)], [0x01, 0x0d, 0xb0]);
    assert.deepEqual([...cong.subarray(15, 18)], [0x01, 0x01, 0xc0]);

    // WebSocket: the same two messages, one per binary frame.
    const [nonce, ready] = await readWs(wsPort, 2, 5_000);
    assert.equal(nonce?.length, 13);
    assert.equal(nonce?.[0], 0xb0);
    assert.deepEqual(ready === undefined ? undefined : [...ready], [0xc0]);

    assert.equal(cli.out().includes('\x1b'), false, 'no screen clearing when stdout is not a TTY');
    cli.child.kill('SIGTERM');
    const { code, signal, afterMs } = await cli.exited(5_000);
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.ok(afterMs < 2_000, `exit took ${afterMs} ms`);
  });

  it('exits 0 on SIGINT within 2 s, closing open connections', async () => {
    const cli = run(['-L', '0']);
    const [, congText] = await cli.waitFor(CONG_LOCAL, 10_000);
    assert.equal(WS_LOCAL.test(cli.out()), false, 'no WebSocket section without -l');
    const socket = net.connect(Number(congText), '127.0.0.1');
    socket.resume(); // read, so the end of the stream is seen
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolvePromise) => socket.on('close', () => resolvePromise()));
    await withDeadline(new Promise<void>((resolvePromise) => socket.once('connect', () => resolvePromise())), 5_000, 'TCP connect');
    cli.child.kill('SIGINT');
    const { code, signal, afterMs } = await cli.exited(5_000);
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.ok(afterMs < 2_000, `exit took ${afterMs} ms`);
    await withDeadline(closed, 2_000, 'client socket close');
  });

  it('names the TLS file at fault: missing, unreadable as PEM, or a missing CA (both transports)', async () => {
    const cases: { args: string[]; expect: RegExp }[] = [
      { args: ['-l', '0', '--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem'], expect: /--tls-cert file \/nonexistent\/cert\.pem: not found/ },
      { args: ['-L', '0', '--tls-cert', 'package.json', '--tls-key', '/nonexistent/key.pem'], expect: /--tls-key file \/nonexistent\/key\.pem: not found/ },
      { args: ['-l', '0', '--tls-cert', 'package.json', '--tls-key', 'package.json'], expect: /not a usable certificate and key \(--tls-cert package\.json, --tls-key package\.json\)/ },
      { args: ['-L', '0', '--tls-cert', 'package.json', '--tls-key', 'package.json', '--tls-ca', '/nonexistent/ca.pem'], expect: /--tls-ca file \/nonexistent\/ca\.pem: not found/ },
    ];
    const runs = cases.map((c) => ({ ...c, cli: run(c.args) }));
    for (const { args, expect, cli } of runs) {
      const { code } = await cli.exited(10_000);
      assert.notEqual(code, 0, `${args.join(' ')} must fail`);
      assert.match(cli.err(), expect, `${args.join(' ')}:\n${cli.err()}`);
      assert.doesNotMatch(cli.err(), /App construction failed/);
      assert.doesNotMatch(cli.out(), /Serving/);
    }
  });

  it('reports a port that is already in use in one line and exits 1', async () => {
    const busy = await occupyPort();
    try {
      // Both flags at once: independent processes start in parallel.
      const runs = ['-L', '-l'].map((flag) => ({ flag, cli: run([flag, String(portOf(busy))]) }));
      for (const { flag, cli } of runs) {
        const { code } = await cli.exited(10_000);
        assert.equal(code, 1, `${flag} on a busy port → ${code}\n${cli.out()}${cli.err()}`);
        const lines = cli.err().trim().split('\n');
        assert.equal(lines.length, 1, `one line expected:\n${cli.err()}`);
        assert.match(lines[0] ?? '', /io-server: .*in use/i);
      }
    } finally {
      await new Promise<void>((resolvePromise) => busy.close(() => resolvePromise()));
    }
  });

  it('-m 1 prints the memory table and the traffic row (every 5 s; one report here, in process)', async () => {
    const server = await createServer({ port: 0, host: '127.0.0.1', log: () => undefined });
    try {
      let text = '';
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          text += chunk.toString();
          done();
        },
      });
      const traffic = new TrafficWindow(viewsOf(server).sampler.sample(), Date.now());
      printMetrics(new Console({ stdout: sink, colorMode: false }), serverOf(server), 1, traffic);
      assert.match(text, /^metric 1: /);
      assert.match(text, /rxBytes[\s\S]*\n└/);
      for (const column of ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers', 'lastSSID', 'remotes', 'channels', 'txBytes']) {
        assert.ok(text.includes(column), `metric output lacks ${column}`);
      }
      assert.equal(text.includes('\x1b'), false, 'no colour');
      text = '';
      printMetrics(new Console({ stdout: sink, colorMode: false }), serverOf(server), 2, traffic);
      assert.match(text, /^metric 2: /);
    } finally {
      await server.close();
    }
  });
});

describe('io-server helpers', () => {
  afterEach(killAll);
  after(killAll);
  it('TrafficWindow reports the bytes of the current 10 s window', () => {
    const snap = (bytesIn: number, bytesOut: number) => ({ lastSsid: 4, connections: 2, channels: 1, bytesIn, bytesOut });
    const window = new TrafficWindow({ bytesIn: 100, bytesOut: 1000 }, 0);
    assert.deepEqual(window.sample(snap(110, 1050), 5_000), { lastSSID: 4, remotes: 2, channels: 1, txBytes: 50, rxBytes: 10 });
    // The end of the first window still shows everything since 0 s, then the window restarts.
    assert.deepEqual(window.sample(snap(130, 1100), 10_000), { lastSSID: 4, remotes: 2, channels: 1, txBytes: 100, rxBytes: 30 });
    assert.deepEqual(window.sample(snap(131, 1107), 15_000), { lastSSID: 4, remotes: 2, channels: 1, txBytes: 7, rxBytes: 1 });
  });

  it('formats connections as #<ssid>:<cid>(<state>)', () => {
    assert.deepEqual(connectionEntries([{ ssid: 1, cid: '?9P-i', state: 19 }]), ['#1:?9P-i(19)']);
  });

  it('sizes the banner box to its longest line', () => {
    const text = box(bannerLines({ congPort: 8888 }, '10.0.0.5'));
    const widths = new Set(text.split('\n').map((line) => line.length));
    assert.equal(widths.size, 1, 'every row has the same width');
    assert.match(text, /Arduino {2}- host: 10\.0\.0\.5 {2}- port: 8888/);
    assert.doesNotMatch(text, /ws:\/\//);
    assert.doesNotMatch(text, /Dashboard/, 'the dashboard lives on the WebSocket port');
  });

  it('shows the dashboard and metrics URLs on the WebSocket port, https under TLS, none when HTTP is off', () => {
    assert.match(bannerLines({ wsPort: 7777 }, '10.0.0.5', true).join('\n'), /Dashboard: https:\/\/localhost:7777\/\nMetrics: +https:\/\/localhost:7777\/metrics/);
    assert.doesNotMatch(bannerLines({ wsPort: 7777, http: false }, '10.0.0.5').join('\n'), /Dashboard|Metrics/);
  });
});
