// SIGKILL in the middle of writes (crash-writer.ts writes retained updates, history appends and session snapshots
// every turn and announces each durable turn): after the kill the store is opened again and must hold one whole
// turn at least as late as the last one announced — every record naming the same turn, nothing half-written — and
// the history must recover a reader exactly. On LMDB the writer is killed; on Redis (append-only, fsync always)
// redis-server is killed under the writer and started again, the writer carries on, then the writer is killed.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChannelHistory } from '../../src/history/channel-history.js';
import { HistoryPolicy } from '../../src/history/policy.js';
import { DurableSessions } from '../../src/mqtt/durable-sessions.js';
import type { BufferedStore } from '../../src/store/buffered-store.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { watchChild, type WatchedChild } from '../kit/child-output.js';
import { CHILD_PROCESS_DEADLINE_MS } from '../kit/wait.js';
import { CRASH_POLICY } from './crash-writer.js';
import { DurableRedis, redisSkipReason } from './durable-redis.js';

const WRITER = join(dirname(fileURLToPath(import.meta.url)), 'crash-writer.js');

function startWriter(args: string[]): { child: ChildProcess; out: WatchedChild } {
  const child = spawn(process.execPath, [WRITER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return { child, out: watchChild(child) };
}

/** The last turn the writer announced durable. */
function lastDurable(out: WatchedChild): number {
  const all = [...out.out().matchAll(/^D (\d+)$/gm)];
  return all.length > 0 ? Number(all[all.length - 1]![1]) : 0;
}

async function durableAtLeast(out: WatchedChild, turn: number, what: string): Promise<number> {
  return out.until(() => {
    if (out.exit()) throw new Error(`the writer exited: ${out.err()}`);
    const d = lastDurable(out);
    return d >= turn ? d : undefined;
  }, what, CHILD_PROCESS_DEADLINE_MS);
}

async function kill(child: ChildProcess): Promise<void> {
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await gone;
}

/** Everything the store holds must name one turn, at least `announced`; a reader recovers the history exactly. */
async function checkWholeTurn(store: BufferedStore, announced: number): Promise<number> {
  const turnValue = await store.getRetained('CH:turn$');
  assert.ok(turnValue, 'the turn marker is there');
  const t = Number(turnValue.msg.toString());
  assert.ok(t >= announced, `the store holds turn ${t}, the writer had announced ${announced} durable`);
  assert.equal((await store.getRetained(`CH:r${t % 50}$`))?.msg.toString(), String(t), 'the retained value written with it');
  const history = new ChannelHistory({ policy: HistoryPolicy.parse(CRASH_POLICY), store });
  await store.load({ log: (log, meta, entries) => history.restore(log, meta, entries) });
  const position = history.position('CH:chat')!;
  assert.equal(position.offset, t, 'the history ends at the same turn');
  const since = Math.max(0, announced - 25);
  const r = history.since('CH:chat', position.epoch, since);
  assert.ok(r.ok, 'a reader within what was kept recovers');
  assert.deepEqual(
    r.entries.map((e) => `${e.offset}:${e.msg.toString()}`),
    Array.from({ length: t - since }, (_, i) => `${since + 1 + i}:m${since + 1 + i}`),
    'exactly the signals after its offset',
  );
  const session = await new DurableSessions(store).get('c');
  assert.ok(session);
  assert.equal(session.disconnectedAt, t, 'the session snapshot of the same turn');
  assert.deepEqual(session.queue.map((d) => d.payload.toString()), Array(1 + (t % 5)).fill(String(t)), 'its whole queue, nothing half-written');
  return t;
}

describe('crash: SIGKILL mid-writes', () => {
  const root = mkdtempSync(join(tmpdir(), 'iosig-crash-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('LMDB: every turn announced durable is back, as whole turns, and the writer goes on from there', async () => {
    const dir = join(root, 'lmdb');
    let w = startWriter(['lmdb', dir]);
    const announced = await durableAtLeast(w.out, 300, '300 durable turns');
    await kill(w.child);
    const store = LmdbStore.open(dir);
    assert.equal(store.opened.cleanShutdown, false, 'the kill is seen as an unclean shutdown');
    const t = await checkWholeTurn(store, Math.max(announced, lastDurable(w.out)));
    await store.close();
    // A second run continues the same history: its first turn is t + 1, in the same epoch.
    w = startWriter(['lmdb', dir]);
    await w.out.until(() => (/^READY (\d+)$/m.exec(w.out.out()) ? true : undefined), 'the writer to start again', CHILD_PROCESS_DEADLINE_MS);
    assert.equal(Number(/^READY (\d+)$/m.exec(w.out.out())![1]), t);
    const again = await durableAtLeast(w.out, t + 100, 'more durable turns after the restart');
    await kill(w.child);
    const reopened = LmdbStore.open(dir);
    await checkWholeTurn(reopened, Math.max(again, lastDurable(w.out)));
    await reopened.close();
  });

  describe('on Redis', { skip: redisSkipReason() }, () => {
    let redis: DurableRedis | null = null;
    after(async () => redis?.destroy());

    it('Redis killed mid-writes and started again: nothing acknowledged is lost, the writer catches up; then the writer is killed', async () => {
      redis = await DurableRedis.start();
      const w = startWriter(['redis', redis.url]);
      const before = await durableAtLeast(w.out, 200, '200 durable turns');
      await redis.kill();
      const lost = lastDurable(w.out);
      await redis.restart();
      // The append-only file has everything Redis acknowledged: the turn announced last before the kill is there.
      const client = redis.client();
      const probe = await RedisStore.open(client, redis.url, { prefix: 'crash' });
      const t = Number((await probe.getRetained('CH:turn$'))!.msg.toString());
      assert.ok(t >= Math.max(before, lost), `after Redis restarted it holds turn ${t}, ${lost} was acknowledged`);
      await durableAtLeast(w.out, lost + 200, 'the writer writing again after Redis came back');
      await kill(w.child);
      await checkWholeTurn(probe, lastDurable(w.out));
      await probe.close();
      client.disconnect();
    });
  });
});
