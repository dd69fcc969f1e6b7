// The `io` CLI's failures (refused connections, bad URLs and options) and its help.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { script, stopAll } from './io-support.js';
import { planIo } from '../../src/cli/io.js';
import { freePort } from '../kit/server.js';

const silent = { out: () => undefined, err: () => undefined, env: process.env };

/** planIo in this process: the exit code it chose (or -1 when it would run) and what it wrote. */
async function plan(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const result = await planIo(['node', 'io', ...args], { out: (text) => void (out += text), err: (text) => void (err += text), env: process.env });
  return { code: result.kind === 'exit' ? result.code : -1, out, err };
}

describe('io errors', () => {
  afterEach(stopAll);
  it('a refused connection gives a clear message and exit code 1', async () => {
    const port = await freePort();
    // Independent processes: started together.
    const [ws, cong, pinged] = await Promise.all([
      script(['-c', `127.0.0.1:${port}`], ['.sig x']),
      script(['-c', `cong://127.0.0.1:${port}`], ['.sig x']),
      script(['ping', '-c', `cong://127.0.0.1:${port}`], []),
    ]);
    for (const { code, err } of [ws, cong]) {
      assert.equal(code, 1);
      assert.match(err, /^io: cannot connect to (ws|cong):\/\/127\.0\.0\.1:\d+\/?: connection refused \(ECONNREFUSED\)$/m);
      assert.doesNotMatch(err, /\n\s+at /, 'no stack trace');
    }
    assert.equal(pinged.code, 1);
    assert.match(pinged.err, /connection refused/);
  });

  it('a bad URL or bad options give a usage message and exit code 2', async () => {
    // The command line is checked in process (planIo, what main runs first); the process once, for its exit code.
    const [badUrl, halfLogin, unknown, dup] = await Promise.all([
      plan(['-c', 'http://example.com']),
      plan(['-i', 'dev1']),
      plan(['--nope']),
      plan(['-c', 'x=127.0.0.1:1', '-c', 'x=127.0.0.1:2']),
    ]);
    assert.equal(badUrl.code, 2);
    assert.match(badUrl.err, /^io: bad server URL "http:\/\/example\.com": unsupported scheme/m);
    assert.doesNotMatch(badUrl.err, /\n\s+at /);
    assert.equal(halfLogin.code, 2);
    assert.match(halfLogin.err, /-i\/--id and -k\/--key go together/);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /unknown option '--nope'/);
    assert.equal(dup.code, 2);
    assert.match(dup.err, /two connections are named "x"/);
    const ping = await plan(['ping', '-c', 'http://example.com']);
    assert.equal(ping.code, 2, 'io ping checks its URL the same way');
    const ok = await planIo(['node', 'io', '-c', 'a=127.0.0.1:1', '-c', 'cong://127.0.0.1:2', '-j', 'room'], silent);
    assert.equal(ok.kind, 'console');
    if (ok.kind === 'console') assert.deepEqual(ok.specs.map((spec) => spec.name), ['a', '127.0.0.1:2']);
    const processRun = await script(['-c', 'http://example.com'], []);
    assert.equal(processRun.code, 2);
    assert.match(processRun.err, /^io: bad server URL "http:\/\/example\.com": unsupported scheme/m);
  });
});

describe('io --help', () => {
  afterEach(stopAll);
  it('lists the options and the ping command', async () => {
    const { code, out } = await plan(['--help']);
    assert.equal(code, 0);
    for (const flag of ['-c, --connect', '-i, --id', '-k, --key', '-a, --auth-id-key', '-j, --join-channel', '-t, --timeout', '--json', 'ping']) {
      assert.ok(out.includes(flag), flag);
    }
  });
});
