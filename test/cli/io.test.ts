// The `io` CLI as a child process with piped stdin, against real io-servers (both transports),
// the iosignal 2.2.1 reference server, and several servers at once.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import type { IosigServer } from '../../src/index.js';
import { ROOT, freePort, startReferenceServer, startServer, stopChild, urlOf, type ReferenceServer, type Transport } from '../client/support.js';
import { startTlsFront, type TlsFront } from '../client/tls-fixture.js';
import { CHILD_PROCESS_DEADLINE_MS } from '../helpers/wait.js';

const BIN = join(ROOT, 'bin', 'io.js');
const running = new Set<ChildProcessWithoutNullStreams>();

interface IoRun {
  child: ChildProcessWithoutNullStreams;
  out(): string;
  err(): string;
  send(line: string): void;
  /** Resolves when stdout matches `pattern`; rejects at the deadline or when the process exits first. */
  waitFor(pattern: RegExp, ms: number): Promise<RegExpMatchArray>;
  /** Exit code, or rejects after `ms`. */
  exited(ms: number): Promise<number | null>;
}

function io(args: string[]): IoRun {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
  running.add(child);
  let out = '';
  let err = '';
  let exitCode: number | null | undefined;
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const listener of listeners) listener();
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    notify();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
    notify();
  });
  child.on('exit', (code) => {
    exitCode = code;
    notify();
  });
  child.stdin.on('error', () => undefined);

  const until = <T>(check: () => T | undefined, what: string, asked: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const ms = Math.max(asked, CHILD_PROCESS_DEADLINE_MS);
      const listener = (): void => {
        const value = check();
        if (value !== undefined) {
          finish();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no ${what} within ${ms} ms\nstdout:\n${out}\nstderr:\n${err}`));
      }, ms);
      const finish = (): void => {
        clearTimeout(timer);
        listeners.delete(listener);
      };
      listeners.add(listener);
      listener();
    });

  return {
    child,
    out: () => out,
    err: () => err,
    send: (line) => child.stdin.write(line + '\n'),
    waitFor: (pattern, ms) =>
      until(
        () => {
          const match = out.match(pattern);
          if (match) return match;
          if (exitCode !== undefined) throw new Error(`io exited (${exitCode}) before ${pattern}\nstdout:\n${out}\nstderr:\n${err}`);
          return undefined;
        },
        String(pattern),
        ms,
      ),
    exited: (ms) => until(() => (exitCode === undefined ? undefined : { code: exitCode }), 'exit', ms).then((r) => r.code),
  };
}

/** Runs io with `lines` on stdin (then EOF) and returns its output once it exits. */
async function script(args: string[], lines: string[], ms = 8000): Promise<{ code: number | null; out: string; err: string }> {
  const run = io(args);
  run.child.stdin.end(lines.map((line) => line + '\n').join(''));
  const code = await run.exited(ms);
  return { code, out: run.out(), err: run.err() };
}

const lineList = (text: string): string[] => text.split('\n').filter((line) => line !== '');

afterEach(async () => {
  await Promise.all([...running].map((child) => stopChild(child)));
  running.clear();
});

describe('io against io-server', () => {
  let server: IosigServer;
  before(async () => {
    server = await startServer({ auth: { param: 'dev1.secret-key.D1.3' } });
  });
  after(() => server.close());

  for (const transport of ['ws', 'cong'] as Transport[]) {
    it(`runs a piped script and prints each event as one line (${transport})`, async () => {
      const { code, out, err } = await script(
        ['-c', urlOf(server, transport), '-j', 'room'],
        ['.sub ch', '.sig ch hello', '.sig ch a b', '.sig', '.sig room "two words"', '.sig_bin ch 3', '.echo hi', '.iam nick1', '.ch', '.encMode', '.bogus'],
      );
      assert.equal(code, 0, err);
      const lines = lineList(out);
      assert.match(lines[0]!, /^connecting to /);
      assert.match(lines[1]!, /^ready: cid \?[\w-]{4}$/);
      for (const expected of ['message: ch hello', 'message: ch a b', 'message: room two words', 'message: ch <3 bytes 000000>', 'echo: hi', 'channels: room,ch', 'encMode: auto (encrypting: no)']) {
        assert.ok(lines.includes(expected), `missing "${expected}" in:\n${out}`);
      }
      assert.ok(lines.some((line) => line.startsWith('iam: {') && line.includes('"nick":"nick1"') && line.includes('"CH:room","CH:ch"')));
      assert.match(err, /usage: \.sig tag/);
      assert.match(err, /unknown command "\.bogus"; \.help lists the commands/);
    });
  }

  it('prints one JSON object per event with --json', async () => {
    const { code, out } = await script(['-c', urlOf(server, 'cong'), '--json'], ['.sub j', '.sig j hello', '.sig j 1 x', '.sig_bin j 2', '.sig j', '.echo e']);
    assert.equal(code, 0);
    const events = lineList(out).map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const event of events) {
      assert.equal(typeof event.time, 'string');
      assert.ok(!Number.isNaN(Date.parse(String(event.time))));
      assert.equal(event.source, `127.0.0.1:${server.congPort}`);
    }
    const messages = events.filter((e) => e.event === 'message').map(({ tag, payloadType, payload }) => ({ tag, payloadType, payload }));
    assert.deepEqual(messages, [
      { tag: 'j', payloadType: 'TEXT', payload: 'hello' },
      { tag: 'j', payloadType: 'MJSON', payload: ['1', 'x'] },
      { tag: 'j', payloadType: 'BINARY', payload: { $hex: '0000' } },
      { tag: 'j', payloadType: 'EMPTY', payload: null },
    ]);
    assert.deepEqual(events.filter((e) => e.event === 'echo').map((e) => e.text), ['e']);
    assert.equal(events.filter((e) => e.event === 'ready').length, 1);
  });

  it('logs in with -a, and reports a refused login with -i/-k', async () => {
    const good = await script(['-c', urlOf(server, 'ws'), '-a', 'dev1.secret-key'], ['.id', '.encMode']);
    assert.equal(good.code, 0, good.err);
    const lines = lineList(good.out);
    for (const expected of ['quota: level 3, signalSize 1048576 bytes', 'login: ok', 'ready: cid D1', 'encMode: auto (encrypting: yes)']) {
      assert.ok(lines.includes(expected), `missing "${expected}" in:\n${good.out}`);
    }
    assert.ok(lines.some((line) => /^id: ws:\/\/127\.0\.0\.1:\d+\/ state ready cid D1 did - level 3 authorized enc auto$/.test(line)), good.out);

    const bad = io(['-c', urlOf(server, 'cong'), '-i', 'dev1', '-k', 'wrong', '--stay']);
    await bad.waitFor(/auth_fail: the server refused the login/, 3000);
  });

  it('.close stays closed until .open, and .login logs in on a live connection', async () => {
    const { code, out, err } = await script(
      ['-c', urlOf(server, 'ws')],
      ['.sub c1', '.close', '.wait 400', '.sig c1 lost', '.open', '.wait 300', '.sig c1 back', '.login dev1 secret-key', '.wait 300', '.iam'],
    );
    assert.equal(code, 0, err);
    assert.match(out, /closed: closed by the client\n/);
    assert.match(err, /error: signal not sent \(stopped\)/);
    assert.doesNotMatch(out, /message: c1 lost/);
    assert.match(out, /message: c1 back/);
    assert.equal(out.match(/^ready: /gm)?.length, 3, 'ready at start, after .open and after .login');
    assert.match(out, /ready: cid D1\n/);
    assert.match(out, /iam: \{.*"did":"dev1"/);
  });

  it('io ping prints count, min, median, p99 and max for both probes', async () => {
    const { code, out } = await script(['ping', '-c', urlOf(server, 'cong'), '-n', '5'], []);
    assert.equal(code, 0);
    assert.match(out, /^probe\s+count\s+lost\s+min\s+median\s+p99\s+max\s+\(ms\)$/m);
    assert.match(out, /^echo \(server\)\s+5\s+0(\s+\d+\.\d{3}){4}$/m);
    assert.match(out, /^unicast \(broker\)\s+5\s+0(\s+\d+\.\d{3}){4}$/m);
  });

  it('io ping --json and --heartbeat', async () => {
    const json = await script(['ping', '-c', urlOf(server, 'ws'), '-n', '3', '--json'], []);
    const rows = lineList(json.out)
      .map((line) => JSON.parse(line) as { event: string; probe?: string; count?: number; min?: number; p99?: number; max?: number })
      .filter((e) => e.event === 'rtt');
    assert.deepEqual(rows.map((r) => [r.probe, r.count]), [['echo', 3], ['broker', 3]]);
    assert.ok(rows.every((r) => r.min! <= r.p99! && r.p99! <= r.max!));

    const beat = await script(['ping', '-c', urlOf(server, 'cong'), '--heartbeat', '0.05', '-n', '3', '--channel', 'hb'], []);
    assert.equal(beat.code, 0, beat.err);
    assert.match(beat.out, /^heartbeat 1: back after \d+\.\d{3} ms$/m);
    assert.match(beat.out, /^heartbeat 3: back after/m);
    assert.match(beat.out, /^heartbeat \(hb\)\s+3\s+0(\s+\d+\.\d{3}){4}$/m);
  });

  it('works over congs:// with --insecure', async () => {
    const front: TlsFront = await startTlsFront(server.congPort!);
    try {
      const { code, out } = await script(['-c', `congs://127.0.0.1:${front.port}`, '--insecure'], ['.sub t', '.sig t tls']);
      assert.equal(code, 0);
      assert.match(out, /message: t tls/);
    } finally {
      await front.close();
    }
  });
});

describe('io with several servers', () => {
  it('prefixes every line, targets name;commands, and survives losing one server', { timeout: 20_000 }, async () => {
    let a = await startServer();
    const b = await startServer();
    const aCong = a.congPort!;
    try {
      // a over CongSocket (restarted below on the same port), b over WebSocket.
      const run = io(['-c', `a=cong://127.0.0.1:${aCong}`, '-c', `b=${urlOf(b, 'ws')}`, '-j', 'room', '--stay']);
      await run.waitFor(/\[a\] ready: cid .*\n[\s\S]*\[b\] ready|\[b\] ready: cid .*\n[\s\S]*\[a\] ready/, 5000);
      run.send('a;.sig room only-a');
      run.send('b ;.sig room only-b');
      run.send('a,b;.sig room both');
      run.send('.echo done');
      await run.waitFor(/\[a\] echo: done\n[\s\S]*\[b\] echo: done|\[b\] echo: done\n[\s\S]*\[a\] echo: done/, 3000);
      const lines = lineList(run.out());
      for (const expected of ['[a] message: room only-a', '[b] message: room only-b', '[a] message: room both', '[b] message: room both']) {
        assert.ok(lines.includes(expected), `missing "${expected}" in:\n${run.out()}`);
      }
      assert.ok(!lines.includes('[b] message: room only-a') && !lines.includes('[a] message: room only-b'));
      run.send('c;.sig room x');

      await a.close();
      await run.waitFor(/\[a\] closed: .*reconnecting in \d+ ms/, 3000);
      run.send('b;.sig room still-here');
      await run.waitFor(/\[b\] message: room still-here/, 3000);

      a = await startServer({ congPort: aCong });
      await run.waitFor(/\[a\] ready: cid [^\n]*\n[\s\S]*\[a\] ready: cid /, 8000);
      run.send('.sig room again');
      await run.waitFor(/\[a\] message: room again/, 3000);
      await run.waitFor(/\[b\] message: room again/, 3000);
      assert.match(run.err(), /unknown connection "c" \(known: a, b\)/);
      run.send('.quit');
      assert.equal(await run.exited(3000), 0);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('io against the iosignal 2.2.1 reference server', () => {
  let reference: ReferenceServer;
  before(async () => {
    reference = await startReferenceServer();
  });
  after(() => reference.stop());

  for (const transport of ['ws', 'cong'] as Transport[]) {
    it(`scripted session (${transport})`, async () => {
      // The 2.2.1 server does not echo a publish back to its sender, so a second io watches the channel.
      const watcher = io(['-c', urlOf(reference, transport === 'ws' ? 'cong' : 'ws'), '-j', 'ref', '--stay']);
      await watcher.waitFor(/ready: cid/, 3000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const { code, out, err } = await script(['-c', urlOf(reference, transport)], ['.sig ref from-io 2', '.echo hi', '.iam', '.ping']);
      assert.equal(code, 0, err);
      assert.match(out, /ready: cid \?/);
      assert.match(out, /echo: hi/);
      assert.match(out, /iam: \{"ssid":\d+/);
      assert.match(out, /pong: \d+\.\d{3} ms/);
      await watcher.waitFor(/message: ref from-io 2/, 3000);
    });
  }

  it('io ping', async () => {
    const { code, out } = await script(['ping', '-c', urlOf(reference, 'cong'), '-n', '3'], []);
    assert.equal(code, 0);
    assert.match(out, /^echo \(server\)\s+3\s+0/m);
    assert.match(out, /^unicast \(broker\)\s+3\s+0/m);
  });
});

describe('io errors', () => {
  it('a refused connection gives a clear message and exit code 1', async () => {
    const port = await freePort();
    for (const url of [`127.0.0.1:${port}`, `cong://127.0.0.1:${port}`]) {
      const { code, err } = await script(['-c', url], ['.sig x']);
      assert.equal(code, 1);
      assert.match(err, /^io: cannot connect to (ws|cong):\/\/127\.0\.0\.1:\d+\/?: connection refused \(ECONNREFUSED\)$/m);
      assert.doesNotMatch(err, /\n\s+at /, 'no stack trace');
    }
    const pinged = await script(['ping', '-c', `cong://127.0.0.1:${port}`], []);
    assert.equal(pinged.code, 1);
    assert.match(pinged.err, /connection refused/);
  });

  it('a bad URL or bad options give a usage message and exit code 2', async () => {
    const badUrl = await script(['-c', 'http://example.com'], []);
    assert.equal(badUrl.code, 2);
    assert.match(badUrl.err, /^io: bad server URL "http:\/\/example\.com": unsupported scheme/m);
    assert.doesNotMatch(badUrl.err, /\n\s+at /);
    const halfLogin = await script(['-i', 'dev1'], []);
    assert.equal(halfLogin.code, 2);
    assert.match(halfLogin.err, /-i\/--id and -k\/--key go together/);
    const unknown = await script(['--nope'], []);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /unknown option '--nope'/);
    const dup = await script(['-c', 'x=127.0.0.1:1', '-c', 'x=127.0.0.1:2'], []);
    assert.equal(dup.code, 2);
    assert.match(dup.err, /two connections are named "x"/);
  });
});

describe('io --help', () => {
  it('lists the options and the ping command', async () => {
    const { code, out } = await script(['--help'], []);
    assert.equal(code, 0);
    for (const flag of ['-c, --connect', '-i, --id', '-k, --key', '-a, --auth-id-key', '-j, --join-channel', '-t, --timeout', '--json', 'ping']) {
      assert.ok(out.includes(flag), flag);
    }
  });
});
