// io-server's last resort: an error that escaped every containment path is logged with context and ends the
// process with a non-zero code (so a supervisor restarts it); the real io-server survives the login flood.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MSG } from '../../src/protocol/codes.js';
import { encodeFrame } from '../../src/protocol/congsocket.js';
import { EXIT_INTERNAL_ERROR } from '../../src/cli/last-resort.js';
import { connectRaw } from '../kit/raw-client.js';
import { CHILD_PROCESS_DEADLINE_MS, withTimeout } from '../kit/wait.js';
import { WsDevice, nested } from '../plain/ws-device.js';
import { ROOT } from '../kit/server.js';

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
    const server = await startIoServer(['-L', '0', '--auth-fail-delay', '150']);
    try {
      const port = server.port('cong');
      const attacker = await connectRaw('cong', port);
      const flood = Buffer.concat([encodeFrame(Buffer.from([MSG.AUTH_REQ])), encodeFrame(Buffer.from([MSG.AUTH_REQ])), ...Array.from({ length: 125_000 }, () => encodeFrame(Buffer.from([MSG.ECHO])))]);
      attacker.sendRaw(flood);
      await attacker.waitClosed(15_000);
      await new Promise((done) => setTimeout(done, 800));
      server.assertAlive();
      const other = await connectRaw('cong', port);
      await other.handshake();
      await other.close();
    } finally {
      server.kill();
    }
  });

  it('the io-server process survives JSON 6000 to 100 000 levels deep on /plain/x?format=json, even under --members-only (issue 16 item 1)', async () => {
    const server = await startIoServer(['-l', '0', '-L', '0', '--members-only', '--quota', 'signalSize,trafficRate']);
    try {
      const device = await WsDevice.json(server.port('ws'), 'x');
      for (const depth of [6000, 12_000, 100_000]) {
        device.device.sendText(`{"payload":${nested(depth)}}`);
        assert.equal((await device.device.nextJson(5000)).type, 'ERROR');
      }
      device.device.close();
      await new Promise((done) => setTimeout(done, 200));
      server.assertAlive();
      const other = await connectRaw('cong', server.port('cong'));
      await other.handshake();
      await other.close();
    } finally {
      server.kill();
    }
  });
});

/** The real io-server CLI in a child process, on ports it picked. */
async function startIoServer(args: string[]) {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'io-server.js'), ...args, '--host', '127.0.0.1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const wanted = args.filter((arg) => arg === '-l' || arg === '-L').map((flag) => (flag === '-l' ? 'ws' : 'cong'));
  const banner = (kind: string): RegExp => new RegExp(`${kind}://127\\.0\\.0\\.1:(\\d+)`);
  await withTimeout(
    new Promise<void>((done) => {
      const look = (): void => {
        if (wanted.every((kind) => banner(kind).test(output))) done();
      };
      child.stdout.on('data', look);
      child.stderr.on('data', look);
    }),
    CHILD_PROCESS_DEADLINE_MS,
    'the io-server banner',
  );
  return {
    port: (kind: 'ws' | 'cong'): number => Number(banner(kind).exec(output)![1]),
    assertAlive(): void {
      assert.equal(child.exitCode, null, `io-server still runs; output:\n${output}`);
      assert.doesNotMatch(output, /fatal/);
    },
    kill: (): boolean => child.kill('SIGKILL'),
  };
}
