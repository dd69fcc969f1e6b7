// Retained signals of a cluster across crashes (issue 20, "the same over two nodes with Redis killed and restarted"):
// two real io-server --cluster processes on one append-only Redis (appendfsync always). A retained value published
// on node A reaches Redis; then Redis is killed with SIGKILL and restarted, both nodes are killed with SIGKILL, two
// fresh nodes start, and a subscriber on either gets the value back.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientPool } from '../kit/raw-client.js';
import { sleep } from '../kit/wait.js';
import { sub, text, unsub } from '../kit/messages.js';
import { MSG } from '../../src/protocol/codes.js';

const BEARER = { headers: { Authorization: 'Bearer dev.keyd' }, autoPong: true };
import { NodeProcess } from '../cluster/node-process.js';
import { DurableRedis, redisSkipReason } from './durable-redis.js';

function payloadText(signal: Buffer): string {
  return signal.subarray(3 + signal[1]!).toString('utf8').replace(/\0$/, '');
}

describe('a cluster keeps retained signals (channel and CID) across SIGKILL of its nodes and of Redis', { skip: redisSkipReason() }, () => {
  const pool = new ClientPool();
  const nodes: NodeProcess[] = [];
  let redis: DurableRedis | undefined;

  after(async () => {
    await pool.closeAll();
    for (const node of nodes) await node.kill();
    await redis?.destroy();
  });

  const start = async (id: string): Promise<NodeProcess> => {
    const node = await NodeProcess.start(['--cluster', redis!.url, '--node-id', id, '-e', 'dev.keyd.DEV.3']);
    nodes.push(node);
    return node;
  };

  it('published on A, read back on fresh nodes after Redis and both nodes were killed', { timeout: 150_000 }, async () => {
    redis = await DurableRedis.start();
    const a = await start('a');
    const b = await start('b');
    const watcher = await pool.ready('ws', b.wsPort);
    watcher.send(sub('plant/level$'));
    await watcher.sync();
    const publisher = await pool.ready('ws', a.wsPort);
    // Until B sees it (the nodes have found each other), then a few more updates.
    let seen = '';
    for (let i = 1; seen === '' && i < 200; i++) {
      publisher.send(text('plant/level$', `warmup${i}`));
      const got = await watcher.next(100).catch(() => null);
      if (got) seen = payloadText(got);
    }
    assert.notEqual(seen, '', 'B receives what A publishes');
    for (let i = 1; i <= 20; i++) publisher.send(text('plant/level$', `v${i}`));
    // A logged-in device on A keeps a CID-retained value: in Redis, by its CID.
    const device = await pool.open('ws', a.wsPort, BEARER);
    await device.nextOfType(MSG.QUOTA_LEVEL, 6000);
    device.send(text('@$mode', 'eco'));
    for (;;) if (payloadText(await watcher.next(10_000)) === 'v20') break;
    // Written to Redis (acknowledged: with appendfsync always, on its disk).
    const probe = redis.client();
    const deadline = Date.now() + 5000;
    while (!(await probe.getBuffer('iosig:r:CH:plant/level$'))?.includes('v20')) {
      assert.ok(Date.now() < deadline, 'the value reaches Redis within 5 s');
      await sleep(20);
    }
    while (!(await probe.hgetBuffer('iosig:cret:DEV', '$mode'))?.includes('eco')) {
      assert.ok(Date.now() < deadline, 'the CID-retained value reaches Redis within 5 s');
      await sleep(20);
    }
    probe.disconnect();

    // The clients stay connected: a device closing its own connection would clear its values (Q25).
    await redis.kill();
    await redis.restart();
    await a.kill();
    await b.kill();
    await pool.closeAll();

    for (const id of ['c', 'd']) {
      const node = await start(id);
      const reader = await pool.ready('ws', node.wsPort);
      reader.send(sub('plant/level$'));
      const back = await reader.next(10_000);
      assert.equal(payloadText(back), 'v20', `node ${id} serves the retained value from Redis`);
    }
    // The device comes back on a fresh node: its value is there again.
    // Until node a's lease on the CID runs out, a login is refused as a duplicate that its holder cannot confirm
    // ("node a did not answer"): log in again until it is accepted.
    const loginEnd = Date.now() + 20_000;
    for (;;) {
      const device2 = await pool.open('ws', nodes[nodes.length - 1]!.wsPort, BEARER);
      const level = await device2.nextOfType(MSG.QUOTA_LEVEL, 6000).catch(() => null);
      if (level !== null) break;
      assert.ok(Date.now() < loginEnd, 'the device logs in again once the lease of the dead node has run out');
      await sleep(250);
    }
    // A subscriber on the other fresh node: the device's node serves it over the bus.
    const reader = await pool.ready('ws', nodes[nodes.length - 2]!.wsPort);
    const end = Date.now() + 10_000;
    let mode = '';
    while (mode !== 'eco') {
      assert.ok(Date.now() < end, 'DEV@$mode is back within 10 s');
      reader.send(sub('DEV@$mode'));
      const got = await reader.next(500).catch(() => null);
      if (got) mode = payloadText(got);
      reader.send(unsub('DEV@$mode'));
    }
  });
});
