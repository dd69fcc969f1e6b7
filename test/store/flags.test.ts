// io-server's durability flags (issue 20): what they set, and the refusals of --data-dir with --cluster / --workers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planServer, type ServerPlan } from '../../src/cli/io-server.js';

async function plan(args: string[]): Promise<{ result: ServerPlan; err: string }> {
  let err = '';
  const io = { out: () => undefined, err: (text: string) => void (err += text), env: process.env };
  const result = await planServer(['node', 'io-server', ...args], io, () => undefined);
  return { result, err };
}

describe('io-server durability flags', () => {
  it('--data-dir, --store-max-pending, --history (repeatable), --history-max-bytes and --cid-retained-grace set the options', async () => {
    const { result } = await plan(['-l', '0', '--data-dir', '/srv/iosig', '--store-max-pending', '1048576', '--history', 'chat/#=100', '--history', 'sensor/+=0/3600', '--history-max-bytes', '2097152', '--cid-retained-grace', '60']);
    assert.equal(result.kind, 'serve');
    if (result.kind !== 'serve') return;
    assert.equal(result.input.dataDir, '/srv/iosig');
    assert.equal(result.input.storeMaxPending, 1048576);
    assert.deepEqual(result.input.history, ['chat/#=100', 'sensor/+=0/3600']);
    assert.equal(result.input.historyMaxBytes, 2097152);
    assert.equal(result.input.cidRetainedGraceMs, 60_000);
    const off = await plan(['-l', '0', '--data-dir', 'off']);
    assert.ok(off.result.kind === 'serve' && off.result.input.dataDir === null);
  });

  it('refuses a bad history rule, naming the flag', async () => {
    const { result, err } = await plan(['-l', '0', '--history', 'chat']);
    assert.deepEqual(result, { kind: 'exit', code: 2 });
    assert.match(err, /--history "chat": expected <pattern>=<count>/);
  });

  it('refuses --data-dir with --cluster and with --workers: their store is the cluster\'s Redis', async () => {
    const cluster = await plan(['-l', '0', '--data-dir', '/srv/iosig', '--cluster', 'redis://127.0.0.1:1']);
    assert.deepEqual(cluster.result, { kind: 'exit', code: 2 });
    assert.match(cluster.err, /--data-dir and --cluster exclude each other/);
    const workers = await plan(['-l', '0', '--data-dir', '/srv/iosig', '--workers', '2', '--cluster', 'redis://127.0.0.1:1']);
    assert.deepEqual(workers.result, { kind: 'exit', code: 2 });
    assert.match(workers.err, /--data-dir and --workers exclude each other/);
  });
});
