// Failures with real iosig servers: a node that dies (its devices' close notices come from a survivor) and a
// Redis restart mid-traffic (local delivery goes on, cross-node losses are counted, interests come back).
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { BUS_ENGINES, NO_OUTAGE, type BusEngineRun } from './engines.js';
import { ClientPool } from '../kit/raw-client.js';
import { waitFor, withTimeout } from '../kit/wait.js';
import { portOf, type IosigServer } from '../kit/server.js';
import { closeNotice, expectMsg, sub, text } from '../kit/messages.js';
import { clusterOf, interestKnown, startNodeServer } from './broker-support.js';

for (const engine of BUS_ENGINES) {
  describe(`cluster failures on ${engine.label}`, { skip: engine.skip }, () => {
    let run: BusEngineRun;
    const servers: IosigServer[] = [];
    const pool = new ClientPool();
    const start = async (prefix: string) => {
      const s = await startNodeServer(run, prefix);
      servers.push(s);
      return s;
    };

    before(async () => {
      run = await engine.start();
    });
    afterEach(() => pool.closeAll());
    after(async () => {
      await Promise.all(servers.map((s) => s.close()));
      await run.stop();
    });

    it('a node that dies stops holding its CIDs within a few seconds; watchers elsewhere get close notices', async () => {
      const a = await start('death');
      const b = await start('death');
      const dev = await pool.ready('cong', portOf(a, 'cong'));
      const watcher = await pool.ready('ws', portOf(b, 'ws'));
      watcher.send(sub(`${dev.cid}@state`));
      await interestKnown(`CID:${dev.cid}@state`, [a]);
      const t0 = Date.now();
      await clusterOf(a).node.crash(); // no more heartbeats, no goodbye: like a killed process
      await expectMsg(watcher, closeNotice(dev.cid, '@state'), 'close notice from the survivor');
      const took = Date.now() - t0;
      assert.ok(took < 5000, `within a few seconds (lease 800 ms, heartbeat 200 ms): took ${took} ms`);
      const nodes = await clusterOf(b).node.nodes();
      assert.deepEqual(nodes.map((n) => n.id), [clusterOf(b).node.nodeId]);
    });

    it('a Redis restart mid-traffic: local delivery goes on, cross-node losses are counted, interests come back', { skip: NO_OUTAGE(engine) }, async () => {
      const redis = run.redis!;
      const a = await start('outage');
      const b = await start('outage');
      const pub = await pool.ready('cong', portOf(a, 'cong'));
      const local = await pool.ready('ws', portOf(a, 'ws'));
      const remote = await pool.ready('cong', portOf(b, 'cong'));
      local.send(sub('feed'));
      remote.send(sub('feed'));
      await local.sync();
      await interestKnown('CH:feed', [a]);
      pub.send(text('feed', 'before'));
      await expectMsg(local, text('feed', 'before'));
      await expectMsg(remote, text('feed', 'before'));

      const busA = clusterOf(a).node.bus;
      const busB = clusterOf(b).node.bus;
      const downA = once(busA.events, 'down');
      await redis.stop();
      await withTimeout(downA, 5000, 'A to see Redis go');
      const droppedBefore = busA.stats.dropped;
      for (let i = 0; i < 10; i++) pub.send(text('feed', `during${i}`));
      for (let i = 0; i < 10; i++) await expectMsg(local, text('feed', `during${i}`), 'local delivery during the outage');
      await waitFor(() => busA.stats.dropped >= droppedBefore + 10, 3000, 'cross-node losses counted');
      assert.equal(busA.stats.droppedBy.down, busA.stats.dropped, 'dropped because Redis was away');
      await waitFor(() => busB.stats.disconnects.subscribe === 1 && busB.stats.disconnects.publish === 1, 3000, 'both lost connections counted');

      await redis.restart();
      await waitFor(() => busA.isReady && busB.isReady, 10_000, 'both buses ready again');
      await interestKnown('CH:feed', [a]);
      // Whatever B got during the outage was lost, never late: the next message it gets is a new one.
      pub.send(text('feed', 'after'));
      await expectMsg(remote, text('feed', 'after'));
      await expectMsg(local, text('feed', 'after'));
      assert.ok(busB.stats.resubscribes >= 2, 'B subscribed everything again before calling itself ready');
    });
  });
}
