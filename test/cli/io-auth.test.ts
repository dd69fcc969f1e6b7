// io-auth: add, list and remove on a .json file and on Redis; keys and hashes are never printed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storedKeyForm } from '../../src/crypto/keys.js';
import { runIoAuth } from '../../src/cli/io-auth.js';
import { RedisServerProcess, redisSkipReason } from '../kit/redis-server.js';
import { CHILD_PROCESS_DEADLINE_MS } from '../kit/wait.js';
import { ROOT } from '../kit/server.js';

const BIN = join(ROOT, 'bin', 'io-auth.js');
const KEY = 'a-secret-key';
const dirs: string[] = [];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** bin/io-auth.js as a child process: the real exit code and streams (kept to a few runs, each costs a node start). */
function ioAuthProcess(args: string[]): Promise<Result> {
  return new Promise((resolveRun) => {
    execFile(process.execPath, [BIN, ...args], { timeout: CHILD_PROCESS_DEADLINE_MS }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolveRun({ code, stdout, stderr });
    });
  });
}

/** The same command in this process (runIoAuth with collected output and its own environment). */
async function ioAuth(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const io = { out: (text: string) => void (stdout += text), err: (text: string) => void (stderr += text), env: { ...process.env, ...env } };
  const code = await runIoAuth(['node', 'io-auth', ...args], io);
  return { code, stdout, stderr };
}

/** Neither the key nor its stored hash may appear anywhere in the output. */
function assertNoSecrets(result: Result, key: string): void {
  const all = result.stdout + result.stderr;
  assert.ok(!all.includes(key), 'the key is printed');
  assert.ok(!all.includes(storedKeyForm(key)), 'the key hash is printed');
}

function assertOneLineError(result: Result, pattern: RegExp): void {
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, pattern);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

describe('io-auth on a .json file', () => {
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const dir = mkdtempSync(join(tmpdir(), 'iosig-io-auth-'));
  dirs.push(dir);
  const file = join(dir, 'devices.json');

  it('adds devices with hashed keys, creating the file', async () => {
    // bin/io-auth.js itself once: exit code 0 and the line on its stdout.
    const added = await ioAuthProcess(['add', 'dev1', KEY, 'D1', '2', '-d', file]);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /added "dev1" \(cid D1, level 2\)/);
    assertNoSecrets(added, KEY);
    const second = await ioAuth(['add', '-d', file, 'dev2', 'other-key', 'D2']);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), [
      ['dev1', storedKeyForm(KEY), 'D1', 2],
      ['dev2', storedKeyForm('other-key'), 'D2', 3],
    ]);
  });

  it('lists id, cid and level without keys or hashes', async () => {
    const listed = await ioAuth(['list', '-d', file]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      listed.stdout.trim().split('\n').map((line) => line.split(/\s+/)),
      [['ID', 'CID', 'LEVEL'], ['dev1', 'D1', '2'], ['dev2', 'D2', '3']],
    );
    assertNoSecrets(listed, KEY);
    assertNoSecrets(listed, 'other-key');
  });

  it('removes a device, and a second remove fails', async () => {
    const removed = await ioAuth(['remove', 'dev2', '-d', file]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /removed "dev2"/);
    assertOneLineError(await ioAuth(['remove', 'dev2', '-d', file]), /^io-auth: no device "dev2"/);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).length, 1);
  });

  it('warns about an 8-byte id, a long cid and a 44-character key, without printing the key', async () => {
    const longKey = 'K'.repeat(44);
    const result = await ioAuth(['add', 'abcdefgh', longKey, 'CID-over-ten', '3', '-d', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /warning: the id "abcdefgh" is 8 bytes/);
    assert.match(result.stderr, /warning: the cid "CID-over-ten" is 12 bytes/);
    assert.match(result.stderr, /warning: .*exactly 44 characters/);
    assertNoSecrets(result, longKey);
  });

  it('refuses bad entries with one-line errors', async () => {
    assertOneLineError(await ioAuth(['add', 'toolong-id', 'k', 'C', '-d', file]), /^io-auth: the id "toolong-id" is 10 bytes/);
    assertOneLineError(await ioAuth(['add', 'x', 'k', '?C', '-d', file]), /^io-auth: the cid "\?C" starts with "\?"/);
    assertOneLineError(await ioAuth(['add', 'x', 'k', '', '-d', file]), /^io-auth: the cid is empty/);
    assertOneLineError(await ioAuth(['add', 'x', 'k', 'C', '7', '-d', file]), /^io-auth: level 7 is not in the quota table/);
    assertOneLineError(await ioAuth(['add', 'x', 'k', 'C', 'high', '-d', file]), /^io-auth: level must be a whole number/);
    assertOneLineError(await ioAuth(['list']), /^io-auth: no key store/);
    assertOneLineError(await ioAuth(['list', '-d', file, '-r']), /not both/);
    assertOneLineError(await ioAuth(['list', '-d', join(dir, 'missing.json')]), /not found/);
    const moduleFile = join(dir, 'keys.mjs');
    writeFileSync(moduleFile, "export const authInfo = [['m', 'k', 'M', 1]];\n");
    assertOneLineError(await ioAuth(['add', 'x', 'k', 'C', '-d', moduleFile]), /JavaScript module/);
    const usage = await ioAuth(['add', 'onlyid', '-d', file]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^io-auth: error: missing required argument/);
    // The process exits with those codes and writes the same single lines on its stderr.
    const [failed, badUsage] = await Promise.all([ioAuthProcess(['list']), ioAuthProcess(['add', 'onlyid', '-d', file])]);
    assertOneLineError(failed, /^io-auth: no key store/);
    assert.equal(failed.code, 1);
    assert.equal(badUsage.code, 2);
    assert.match(badUsage.stderr, /^io-auth: error: missing required argument/);
  });
});

describe('io-auth on Redis', { skip: redisSkipReason() }, () => {
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  let server: RedisServerProcess;

  before(async () => {
    server = await RedisServerProcess.start();
  });

  after(async () => {
    await server?.stop();
  });

  it('adds, lists and removes with -r <url>, never printing the key', async () => {
    const added = await ioAuth(['add', 'r1', KEY, 'R1', '0', '-r', server.url]);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, new RegExp(`added "r1" \\(cid R1, level 0\\) to redis redis://127\\.0\\.0\\.1:${server.port}`));
    assertNoSecrets(added, KEY);

    const listed = await ioAuth(['list', '-r', server.url]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(listed.stdout.trim().split('\n').map((line) => line.split(/\s+/)), [['ID', 'CID', 'LEVEL'], ['r1', 'R1', '0']]);
    assertNoSecrets(listed, KEY);

    const removed = await ioAuth(['remove', 'r1', '-r', server.url]);
    assert.equal(removed.code, 0, removed.stderr);
    assertOneLineError(await ioAuth(['remove', 'r1', '-r', server.url]), /no device "r1"/);
  });

  it('reads REDIS_HOST and REDIS_PORT when -r has no URL', async () => {
    const env = { REDIS_URL: '', REDIS_HOST: '127.0.0.1', REDIS_PORT: String(server.port) };
    const added = await ioAuth(['add', 'r2', KEY, 'R2', '-r'], env);
    assert.equal(added.code, 0, added.stderr);
    const listed = await ioAuth(['list', '-r'], env);
    assert.match(listed.stdout, /^r2\s+R2\s+3$/m);
  });

  it('fails with one line when Redis is not reachable', async () => {
    const result = await ioAuth(['list', '-r', 'redis://127.0.0.1:1']);
    assertOneLineError(result, /^io-auth: redis redis:\/\/127\.0\.0\.1:1: not reachable/);
  });
});
