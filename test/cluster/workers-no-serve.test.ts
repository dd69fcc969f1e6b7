// Issue 16 item 2: a primary of `io-server --workers 2` whose workers can never serve (their port is taken) exits
// with the workers' code, not 0 (it used to retry ten times and exit 0).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { RedisServerProcess, redisSkipReason } from '../kit/redis-server.js';
import { CHILD_PROCESS_DEADLINE_MS, withTimeout } from '../kit/wait.js';

describe('io-server --workers 2: no worker can serve', { skip: redisSkipReason() }, () => {
  let redis: RedisServerProcess;
  before(async () => {
    redis = await RedisServerProcess.start();
  });
  after(() => redis?.stop());

  it('exits with the workers\' code, not 0, when no worker can serve at all', async () => {
    // A port held without SO_REUSEPORT: every worker fails to listen (exit 1) before serving.
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const bin = new URL('../../../bin/io-server.js', import.meta.url).pathname;
      const child = spawn(process.execPath, [bin, '-l', String(port), '--host', '127.0.0.1', '--cluster', redis.url, '--workers', '2'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      const code = await withTimeout(new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c))), CHILD_PROCESS_DEADLINE_MS, 'the primary to exit').finally(
        () => child.kill('SIGKILL'),
      );
      assert.equal(code, 1, output);
      assert.match(output, /could not start serving/);
    } finally {
      blocker.close();
    }
  });
});
