// Real `io-server --cluster` processes on a real redis-server and on a real 3-master Redis Cluster (sharded
// pub/sub): clients on both transports on different processes, and a process killed with SIGKILL.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisServerProcess, redisSkipReason } from '../kit/redis-server.js';
import { RedisClusterProcs } from './redis-cluster.js';
import { ClientPool } from '../kit/raw-client.js';
import { NodeProcess } from './node-process.js';
import { sleep } from '../kit/wait.js';
import { closeNotice, expectMsg, sub, text } from '../kit/messages.js';

interface Engine {
  url: string;
  stop(): Promise<void>;
}

const engines = {
  'redis-server': () => RedisServerProcess.start().then((r): Engine => ({ url: r.url, stop: () => r.stop() })),
  '3-master Redis Cluster': () => RedisClusterProcs.start().then((r): Engine => ({ url: r.url, stop: () => r.stop() })),
};

/** Cross-node interest propagates asynchronously: retry a publish until it arrives (bounded). */
async function publishUntilSeen(send: () => void, receive: () => Promise<Buffer>, expected: Buffer, attempts = 30): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    send();
    try {
      const got = await receive();
      if (got.equals(expected)) return;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  throw new Error('the cross-node publish never arrived');
}

for (const [name, startEngine] of Object.entries(engines)) {
  describe(`io-server processes clustered over a ${name}`, { skip: redisSkipReason() }, () => {
    let engine: Engine;
    let p1: NodeProcess;
    let p2: NodeProcess;
    const pool = new ClientPool();

    before(async () => {
      engine = await startEngine();
      [p1, p2] = await Promise.all([
        NodeProcess.start(['--cluster', engine.url, '--node-id', 'p1']),
        NodeProcess.start(['--cluster', engine.url, '--node-id', 'p2']),
      ]);
      assert.match(p1.log, name.includes('Cluster') ? /sharded pub\/sub/ : /on Redis redis:/);
    });
    afterEach(() => pool.closeAll());
    after(async () => {
      await Promise.all([p1?.stop(), p2?.stop()]);
      await engine?.stop();
    });

    it('clients on different processes and transports exchange channel signals and unicasts', async () => {
      const onP1 = await pool.ready('ws', p1.wsPort);
      const onP2 = await pool.ready('cong', p2.congPort);
      onP2.send(sub('news'));
      await onP2.sync();
      await publishUntilSeen(() => onP1.send(text('news', 'hello')), () => onP2.next(300), text('news', 'hello'));
      onP1.send(sub('back'));
      await onP1.sync();
      await publishUntilSeen(() => onP2.send(text('back', 'hi')), () => onP1.next(300), text('back', 'hi'));
      onP1.send(text(`${onP2.cid}@direct`, 'x'));
      await expectMsg(onP2, text('@direct', 'x'));
    });

    // One engine is enough for the SIGKILL case (it does not depend on the pub/sub flavour) and saves load.
    it('a killed process: its devices close notices reach watchers on the survivor within a few seconds', { skip: name.includes('Cluster') ? 'covered on redis-server' : false }, async () => {
      const victim = await NodeProcess.start(['--cluster', engine.url, '--node-id', 'victim']);
      try {
        const dev = await pool.ready('cong', victim.congPort);
        const watcher = await pool.ready('ws', p2.wsPort);
        watcher.send(sub(`${dev.cid}@state`));
        await watcher.sync();
        const t0 = Date.now();
        await victim.kill();
        // Default lease 3 s, heartbeat 1 s: the survivor notices within about 4 s.
        const got = await watcher.next(8000);
        assert.equal(got.toString('hex'), closeNotice(dev.cid, '@state').toString('hex'));
        const took = Date.now() - t0;
        assert.ok(took < 8000, `close notice after ${took} ms`);
      } finally {
        await victim.kill();
      }
    });
  });
}

describe('io-server --workers', { skip: redisSkipReason() }, () => {
  let redis: RedisServerProcess;
  const pool = new ClientPool();

  before(async () => {
    redis = await RedisServerProcess.start();
  });
  after(async () => {
    await pool.closeAll();
    await redis.stop();
  });

  it('--cluster without a Redis URL refuses --workers auto, saying what is missing (without --cluster the workers need no Redis)', async () => {
    const { spawnSync } = await import('node:child_process');
    const bin = new URL('../../../bin/io-server.js', import.meta.url).pathname;
    const env = { ...process.env, REDIS_URL: '', REDIS_HOST: '' };
    const auto = spawnSync(process.execPath, [bin, '-l', '0', '--cluster', '--workers', 'auto'], { encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(auto.status, 2);
    assert.match(auto.stderr, /--workers auto --cluster needs a Redis URL/);
  });

  it('two worker processes share both ports and act as one broker', async () => {
    const primary = await NodeProcess.start(['--cluster', redis.url, '--node-id', 'wk', '--workers', '2']);
    try {
      assert.match(primary.log, /starting 2 worker processes/);
      await primary.waitForLines(/ports: websocket \d+/, 2, 60_000);
      // Connections are spread over the workers; each worker stamps its own slot into anonymous CIDs.
      const clients = [];
      for (let i = 0; i < 8; i++) clients.push(await pool.ready(i % 2 ? 'ws' : 'cong', i % 2 ? primary.wsPort : primary.congPort));
      const slots = new Set(clients.map((c) => c.cid.slice(0, 3)));
      assert.ok(slots.size >= 1);
      const [pub, ...rx] = clients;
      for (const c of rx) c.send(sub('all'));
      for (const c of rx) await c.sync();
      // Retry until every receiver got one (interest propagates between the workers in milliseconds).
      for (let attempt = 0; ; attempt++) {
        pub!.send(text('all', `m${attempt}`));
        const got = await Promise.all(rx.map((c) => c.next(500).then((m) => m.equals(text('all', `m${attempt}`)), () => false)));
        if (got.every(Boolean)) break;
        assert.ok(attempt < 20, 'every receiver on every worker gets the publish');
        for (const c of rx) await c.sync(); // drain what did arrive
      }
      assert.equal(slots.size, 2, `connections landed on both workers (CID slots seen: ${[...slots].join(' ')})`);
    } finally {
      await primary.stop();
    }
  });
});
