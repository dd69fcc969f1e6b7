// The `io` CLI as a child process with piped stdin, against a real io-server (both transports).
// io-errors.test.ts and io-reference.test.ts hold the rest, so the three files run side by side.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IosigServer } from '../../src/index.js';
import { startTlsFront, type TlsFront } from '../kit/tls-fixture.js';
import { io, lineList, script, stopAll } from './io-support.js';
import { startServer, urlOf } from '../kit/server.js';
import type { Transport } from '../kit/raw-client.js';

describe('io against io-server', () => {
  afterEach(stopAll);
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

