// The `io` CLI's failures (refused connections, bad URLs and options) and its help.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../client/support.js';
import { script, stopAll } from './io-support.js';

afterEach(stopAll);

describe('io errors', () => {
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
    const [badUrl, halfLogin, unknown, dup] = await Promise.all([
      script(['-c', 'http://example.com'], []),
      script(['-i', 'dev1'], []),
      script(['--nope'], []),
      script(['-c', 'x=127.0.0.1:1', '-c', 'x=127.0.0.1:2'], []),
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
