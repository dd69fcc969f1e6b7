// io-server's last resort: an error that escaped every containment path is logged with context and ends the
// process with a non-zero code (so a supervisor restarts it); the real io-server survives the login flood.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { MSG } from '../../src/protocol/codes.js';
import { encodeFrame } from '../../src/protocol/congsocket.js';
import { EXIT_INTERNAL_ERROR } from '../../src/cli/last-resort.js';
import { connectRaw } from '../helpers/raw-client.js';
import { withTimeout } from '../helpers/wait.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const LAST_RESORT = join(ROOT, 'dist', 'src', 'cli', 'last-resort.js');

function runScript(body: string): Promise<{ code: number | null; stderr: string }> {
  const script = `import { installLastResort } from ${JSON.stringify(LAST_RESORT)};\ninstallLastResort({ describe: () => 'probe-process' });\n${body}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return withTimeout(new Promise((done) => child.on('exit', (code) => done({ code, stderr }))), 10_000, 'the script to exit');
}

describe('last resort handlers', () => {
  it('an uncaught exception is logged with context and exits non-zero', async () => {
    const { code, stderr } = await runScript(`setTimeout(() => { throw new Error('escaped-boom'); }, 10);`);
    assert.equal(code, EXIT_INTERNAL_ERROR);
    assert.match(stderr, /probe-process: fatal uncaught exception/);
    assert.match(stderr, /escaped-boom/);
  });

  it('an unhandled rejection is logged with context and exits non-zero', async () => {
    const { code, stderr } = await runScript(`Promise.reject(new Error('rejected-boom'));`);
    assert.equal(code, EXIT_INTERNAL_ERROR);
    assert.match(stderr, /probe-process: fatal unhandled promise rejection/);
    assert.match(stderr, /rejected-boom/);
  });

  it('the io-server process survives the truncated-login flood and never reaches the last resort', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'io-server.js'), '-L', '0', '--host', '127.0.0.1', '--auth-fail-delay', '150'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    try {
      const port = await withTimeout(
        new Promise<number>((done) => {
          const look = (): void => {
            const m = /cong:\/\/127\.0\.0\.1:(\d+)/.exec(output);
            if (m) done(Number(m[1]));
          };
          child.stdout.on('data', look);
          child.stderr.on('data', look);
        }),
        10_000,
        'the io-server banner',
      );
      const attacker = await connectRaw('cong', port);
      const flood = Buffer.concat([encodeFrame(Buffer.from([MSG.AUTH_REQ])), encodeFrame(Buffer.from([MSG.AUTH_REQ])), ...Array.from({ length: 125_000 }, () => encodeFrame(Buffer.from([MSG.ECHO])))]);
      attacker.sendRaw(flood);
      await attacker.waitClosed(15_000);
      await new Promise((done) => setTimeout(done, 800));
      assert.equal(child.exitCode, null, `io-server still runs; output:\n${output}`);
      assert.doesNotMatch(output, /fatal/);
      const other = await connectRaw('cong', port);
      await other.handshake();
      await other.close();
    } finally {
      child.kill('SIGKILL');
    }
  });
});
