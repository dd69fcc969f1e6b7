// Cluster nodes below the broker: anonymous CIDs unique across nodes, login claims under both duplicate
// policies, a dead node's CIDs released with close notices (on a memory hub and on Redis), and a Redis outage
// with resubscription.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { BUS_ENGINES, NO_OUTAGE, type BusEngineRun } from './engines.js';
import { hold, startNode, type TestNode } from './node-support.js';
import { waitFor, withTimeout } from '../kit/wait.js';

for (const engine of BUS_ENGINES) {
  describe(`cluster nodes on ${engine.label}`, { skip: engine.skip }, () => {
    let run: BusEngineRun;
    const nodes: TestNode[] = [];
    let prefixN = 0;
    const start = async (id: string, prefix: string) => {
      const t = await startNode(run, id, prefix);
      nodes.push(t);
      return t;
    };

    before(async () => {
      run = await engine.start();
    });
    after(async () => {
      await Promise.all(nodes.map((t) => t.node.close().catch(() => undefined)));
      await run.stop();
    });

    it('two nodes hand out 100 000 anonymous CIDs without a collision', async () => {
      const prefix = `n${++prefixN}`;
      const a = await start('A', prefix);
      const b = await start('B', prefix);
      const seenA = new Set<string>();
      const seenB = new Set<string>();
      for (let i = 0; i < 50_000; i++) {
        seenA.add(a.node.anonymousCid((c) => seenA.has(c)));
        seenB.add(b.node.anonymousCid((c) => seenB.has(c)));
      }
      const all = new Set([...seenA, ...seenB]);
      assert.equal(all.size, 100_000);
      for (const cid of all) assert.match(cid, /^\?[A-Za-z0-9_-]{6}$/, 'seven bytes, within the device limit of ten');
      const prefixesA = new Set([...seenA].map((c) => c.slice(0, 3)));
      const prefixesB = new Set([...seenB].map((c) => c.slice(0, 3)));
      assert.equal(prefixesA.size, 1);
      assert.equal(prefixesB.size, 1);
      assert.notDeepEqual([...prefixesA], [...prefixesB], 'each node has its own slot');
    });

    it('a login CID is claimed once cluster-wide: keep-old probes the holder, replace evicts it', async () => {
      const prefix = `n${++prefixN}`;
      const a = await start('A', prefix);
      const b = await start('B', prefix);
      assert.deepEqual(await a.node.claimLogin('dev1', 'keep-old'), { ok: true });
      hold(a, 'dev1');
      const refused = await b.node.claimLogin('dev1', 'keep-old');
      assert.equal(refused.ok, false);
      assert.match(!refused.ok ? refused.reason : '', /keep old, online on node A/);

      // The old session does not answer its probe: it is stale, so the new login wins.
      a.host.liveSessions = false;
      assert.deepEqual(await b.node.claimLogin('dev1', 'keep-old'), { ok: true });
      a.host.held.delete('dev1');
      hold(b, 'dev1');

      // Replace: the holder's node closes its session.
      assert.deepEqual(await a.node.claimLogin('dev1', 'replace'), { ok: true });
      assert.deepEqual(b.host.evicted, ['dev1']);
    });

    it('a node that dies stops holding its CIDs within a few seconds; a survivor publishes their close notices', async () => {
      const prefix = `n${++prefixN}`;
      const a = await start('A', prefix);
      const b = await start('B', prefix);
      const anon = a.node.anonymousCid(() => false);
      hold(a, anon);
      assert.deepEqual(await a.node.claimLogin('dev2', 'keep-old'), { ok: true });
      hold(a, 'dev2');
      b.node.bus.addInterest(`CID:${anon}@state`);
      await b.node.bus.flush();
      const died = Date.now();
      await a.node.crash();
      await waitFor(() => b.host.published.filter((p) => p.key.endsWith('@state')).length >= 2, 8000, 'close notices from B');
      const tookMs = Date.now() - died;
      assert.ok(tookMs < 5000, `released within a few seconds (took ${tookMs} ms)`);
      const keys = b.host.published.map((p) => p.key).sort();
      assert.ok(keys.includes(`CID:${anon}@state`) && keys.includes('CID:dev2@state') && keys.includes('CID:dev2@$state'));
      const notice = b.host.published.find((p) => p.key === `CID:${anon}@state`)!.msg;
      assert.equal(notice.toString('latin1'), `\xd0${String.fromCharCode(anon.length + 6)}${anon}@state\x01close\x00`);
      assert.deepEqual(await b.node.claimLogin('dev2', 'keep-old'), { ok: true }, 'the dead node no longer holds dev2');
      const listed = await b.node.nodes();
      assert.deepEqual(listed.map((n) => n.id), ['B']);
    });

    it('survives a Redis restart: drops are counted, every interest is resubscribed before the bus is ready', { skip: NO_OUTAGE(engine) }, async () => {
      const redis = run.redis!;
      const prefix = `n${++prefixN}`;
      const a = await start('A', prefix);
      const b = await start('B', prefix);
      for (let i = 0; i < 50; i++) b.node.bus.addInterest(`CH:k${i}`);
      hold(b, 'devB');
      await b.node.bus.flush();
      let sent = 0;
      const traffic = setInterval(() => a.node.bus.publish(`CH:k${sent++ % 50}`, Buffer.from(`m${sent}`)), 2);
      try {
        await waitFor(() => b.host.published.length >= 20, 5000, 'traffic flowing');
        const down = once(b.node.bus.events, 'down');
        await redis.stop();
        await withTimeout(down, 5000, 'B sees Redis go');
        const droppedBefore = a.node.bus.stats.dropped;
        await waitFor(() => a.node.bus.stats.dropped > droppedBefore + 10, 5000, 'drops counted during the outage');
        // Interest changes during the outage are only recorded…
        b.node.bus.addInterest('CH:during');
        const ready = once(b.node.bus.events, 'ready');
        await redis.restart();
        await withTimeout(ready, 10_000, 'B ready again');
        await waitFor(() => a.node.bus.isReady, 10_000, 'A ready again');
        // …and are in place when the bus says it is ready.
        const receivedAt = b.host.published.length;
        a.node.bus.publish('CH:during', Buffer.from('x'));
        await waitFor(() => b.host.published.some((p) => p.key === 'CH:during'), 5000, 'the outage-time interest works');
        await waitFor(() => b.host.published.length > receivedAt + 20, 5000, 'traffic flows again on old interests');
        assert.ok(b.node.bus.stats.resubscribes >= 2);
        // Redis restarted empty: the registry writes our CIDs back on the next heartbeat.
        await waitFor(() => b.host.lines.some((l) => l.includes('restoring')), 5000, 'B restores its records');
        const cids = await b.node.registry.cidsOf('B');
        assert.deepEqual(cids, ['devB']);
      } finally {
        clearInterval(traffic);
      }
    });
  });
}
