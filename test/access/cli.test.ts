// Issue 18: io-server's access flags — parsed and checked in process (planServer), and a spawned io-server whose
// --acl file is refused whole at start, and reloaded on SIGHUP (an unusable new file keeps the rules in force).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { planServer, type ServerPlan } from '../../src/cli/io-server.js';
import { JwtVerifier } from '../../src/auth/jwt.js';
import { watchChild } from '../kit/child-output.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'bin', 'io-server.js');
const dir = mkdtempSync(join(tmpdir(), 'iosig-acl-cli-'));

async function plan(args: string[]): Promise<{ result: ServerPlan; err: string }> {
  let err = '';
  const io = { out: () => undefined, err: (text: string) => void (err += text), stdout: new Writable(), stderr: new Writable() };
  const result = await planServer(['node', 'io-server', ...args], io as never, () => undefined);
  return { result, err };
}

describe('io-server access flags (issue 18)', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--acl, --acl-redis, --jwt-*, --auth-hook*, --conn-rate and --level-rate become the access options', async () => {
    const secret = join(dir, 'secret');
    writeFileSync(secret, `${'s'.repeat(48)}\n`);
    const { result } = await plan([
      '-l', '0',
      '--acl', join(dir, 'rules.acl'),
      '--acl-redis', 'redis://127.0.0.1:6390',
      '--jwt-secret-file', secret,
      '--jwt-leeway', '5',
      '--auth-hook', 'http://127.0.0.1:9/auth',
      '--auth-hook-timeout', '500',
      '--auth-hook-on-failure', 'ignore',
      '--auth-hook-header', 'Authorization: Bearer hook-secret',
      '--conn-rate', 'ws=100/s:200,cong=50/s',
      '--level-rate', '3=10msg/s:20,16KiB/s',
      '--level-rate', '0=1msg/s',
    ]);
    assert.equal(result.kind, 'serve');
    const access = result.kind === 'serve' ? result.input.access! : {};
    assert.equal(access.aclFile, join(dir, 'rules.acl'));
    assert.equal(access.aclRedis?.target.label, 'redis://127.0.0.1:6390');
    assert.equal(access.aclRedis?.prefix, 'iosig');
    assert.ok(access.jwt instanceof JwtVerifier);
    assert.deepEqual((access.jwt as JwtVerifier).algorithms, ['HS256', 'HS384']);
    assert.deepEqual(access.authHook, { url: 'http://127.0.0.1:9/auth', timeoutMs: 500, onFailure: 'ignore', headers: { authorization: 'Bearer hook-secret' } });
    assert.equal(access.connectionRates?.ws?.perSecond, 100);
    assert.equal(access.connectionRates?.ws?.burst, 200);
    assert.equal(access.levelRates?.get(3)?.messages?.burst, 20);
    assert.equal(access.levelRates?.get(3)?.bytes?.perSecond, 16 * 1024);
    assert.equal(access.levelRates?.get(0)?.messages?.perSecond, 1);
  });

  for (const [args, message] of [
    [['--level-rate', '99=1msg/s'], /not a level of the quota table/],
    [['--conn-rate', 'udp=1/s'], /unknown listener "udp"/],
    [['--auth-hook-timeout', '5'], /--auth-hook-timeout needs --auth-hook/],
    [['--jwt-leeway', '5'], /--jwt-leeway needs a key/],
    [['--jwt-key', '/nonexistent/key.pem'], /--jwt-key \/nonexistent\/key.pem/],
  ] as const) {
    it(`refuses ${args.join(' ')} with exit code 2`, async () => {
      const { result, err } = await plan(['-l', '0', ...args]);
      assert.deepEqual(result, { kind: 'exit', code: 2 });
      assert.match(err, message);
    });
  }

  it('a spawned io-server refuses an unusable --acl at start, naming the line, and reloads a good one on SIGHUP', async () => {
    const bad = join(dir, 'bad.acl');
    writeFileSync(bad, 'allow any subscribe ok\nallow anyone publish x\n');
    const refused = spawn(process.execPath, [BIN, '-l', '0', '--host', '127.0.0.1', '--acl', bad], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const watchedRefused = watchChild(refused);
    const ended = await watchedRefused.until(() => watchedRefused.exit(), 'io-server to exit', 10_000);
    assert.equal(ended.code, 1);
    assert.match(watchedRefused.err(), /line 2: .*anyone/);

    const good = join(dir, 'good.acl');
    writeFileSync(good, 'allow any subscribe ok\n');
    const child = spawn(process.execPath, [BIN, '-l', '0', '--host', '127.0.0.1', '--acl', good], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const watched = watchChild(child);
    try {
      const text = (): string => watched.out() + watched.err();
      await watched.until(() => (/acl .*good\.acl: 1 rules/.test(text()) ? true : undefined), 'the rules loaded', 10_000);
      // SIGHUP is handled once the server serves (the banner).
      await watched.until(() => (/Local: +ws:/.test(text()) ? true : undefined), 'the banner', 10_000);
      writeFileSync(good, 'allow any subscribe ok\nallow any publish ok\n');
      child.kill('SIGHUP');
      await watched.until(() => (/access rules reloaded/.test(text()) ? true : undefined), 'the reload', 10_000);
      writeFileSync(good, 'allow any subscrib ok\n');
      child.kill('SIGHUP');
      await watched.until(() => (/reload FAILED, the previous 2 rules stay in force: .*line 1: unknown right "subscrib"/.test(text()) ? true : undefined), 'the refused reload', 10_000);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
