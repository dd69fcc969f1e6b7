// The bus on a memory hub, on a real redis-server and on a real 3-master Redis Cluster (sharded pub/sub):
// interest-based delivery, own echo ignored, per-publisher order, unicast by CID, everyone, node requests, bad
// envelopes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { MemoryHub } from '../../src/cluster/memory-links.js';
import type { RedisLinks } from '../../src/cluster/redis-links.js';
import { RedisServerProcess, redisSkipReason } from '../kit/redis-server.js';
import { RedisClusterProcs } from './redis-cluster.js';
import { openBus, settle, type BusPlace } from './bus-support.js';
import type { ClusterBus } from '../../src/cluster/bus.js';
import type { ClusterMode } from '../../src/cluster/cluster-options.js';
import { waitFor } from '../kit/wait.js';

interface Engine {
  place: BusPlace;
  /** Raw bytes on a channel, as a hostile bus member would put them. */
  inject(channel: string, payload: Buffer): Promise<void>;
  stop(): Promise<void>;
}

type Mode = ClusterMode | 'memory';

function redisEngine(url: string, mode: ClusterMode, stop: () => Promise<void>): Engine {
  const raw = mode === 'sharded' ? null : new Redis(url);
  raw?.on('error', () => undefined);
  return {
    place: { url, mode },
    // On a Redis Cluster the test sends through a bus's own links (they know the shards).
    inject: async (channel, payload) => void (await raw?.publish(channel, payload)),
    async stop() {
      raw?.disconnect();
      await stop();
    },
  };
}

const engines: Record<Mode, () => Promise<Engine>> = {
  memory: async () => {
    const hub = new MemoryHub();
    return { place: { hub }, inject: async (channel, payload) => void hub.publish(channel, payload), stop: async () => undefined };
  },
  standalone: () => RedisServerProcess.start().then((r) => redisEngine(r.url, 'standalone', () => r.stop())),
  sharded: () => RedisClusterProcs.start().then((r) => redisEngine(r.url, 'sharded', () => r.stop())),
};

for (const mode of ['memory', 'standalone', 'sharded'] as const) {
  describe(`cluster bus over ${mode === 'memory' ? 'a memory hub' : `${mode} Redis`}`, { skip: mode === 'memory' ? false : redisSkipReason() }, () => {
    let engine: Engine;
    const buses: ClusterBus[] = [];
    let prefixN = 0;
    const open = async (node: string, prefix: string) => {
      const opened = await openBus(engine.place, node, prefix);
      buses.push(opened.bus);
      return opened;
    };

    before(async () => {
      engine = await engines[mode]();
    });
    after(async () => {
      await Promise.all(buses.map((bus) => bus.close()));
      await engine.stop();
    });

    it('delivers a publish only to nodes with interest, in order, once through Redis, ignoring the echo', async () => {
      // One Redis orders every channel, so an envelope for a key only one other node wants goes to that node's own
      // channel (no echo); a Redis Cluster orders per shard only, so there it always takes the key's channel.
      const direct = mode !== 'sharded';
      const prefix = `t${++prefixN}`;
      const a = await open('A', prefix);
      const b = await open('B', prefix);
      const c = await open('C', prefix);
      b.bus.addInterest('CH:x');
      a.bus.addInterest('CH:x'); // the publisher's own node has local subscribers too
      await settle(a.bus, b.bus, c.bus);
      await waitFor(() => a.bus.remote.nodesFor('CH:x') === 1, 5000, "B's interest known to A");
      const n = 200;
      for (let i = 0; i < n; i++) a.bus.publish('CH:x', Buffer.from(`m${i}`));
      await waitFor(() => b.rx.published.length === n, 5000, 'B receives every publish');
      assert.deepEqual(b.rx.published.map((p) => p.msg), Array.from({ length: n }, (_, i) => `m${i}`));
      assert.equal(c.rx.published.length, 0, 'C has no interest and receives nothing');
      assert.equal(a.rx.published.length, 0, 'A ignores its own echo');
      assert.equal(a.bus.stats.published, n, 'one envelope per publish');
      assert.ok(a.bus.stats.redisMessages < n / 10, `one turn's publishes to one channel travel as one Redis message (${a.bus.stats.redisMessages})`);
      if (direct) {
        // The publishing connection's replies (counted receivers) may come after B's messages on another connection.
        await waitFor(() => a.bus.stats.redisDeliveries >= n, 5000, "Redis's publish replies");
        assert.equal(a.bus.stats.redisDeliveries, n, 'Redis forwarded each to B only, straight to its node channel');
        assert.equal(a.bus.stats.echoes, 0, 'no echo');
      } else {
        await waitFor(() => a.bus.stats.echoes === n, 5000, 'A sees its echoes');
        await waitFor(() => a.bus.stats.redisDeliveries >= 2 * n, 5000, "Redis's publish replies");
        assert.equal(a.bus.stats.redisDeliveries, 2 * n, 'Redis forwarded each to A and B only');
      }
      assert.equal(c.bus.stats.received, 0);

      // Two other nodes want it: the key's channel, one Redis message for both, and A's own echo ignored.
      c.bus.addInterest('CH:x');
      await settle(c.bus);
      await waitFor(() => a.bus.remote.nodesFor('CH:x') === 2, 5000, "C's interest known to A");
      const echoes = a.bus.stats.echoes;
      a.bus.publish('CH:x', Buffer.from('both'));
      await waitFor(() => b.rx.published.length === n + 1 && c.rx.published.length === 1, 5000, 'B and C receive it');
      await waitFor(() => a.bus.stats.echoes === echoes + 1, 5000, 'A sees its echo');
      assert.equal(a.rx.published.length, 0);
      c.bus.removeInterest('CH:x');
      await settle(c.bus);

      // No interest anywhere: Redis delivers to nobody.
      const before = a.bus.stats.redisDeliveries;
      const sent = a.bus.stats.published;
      a.bus.publish('CH:nobody', Buffer.from('x'));
      await a.bus.flush();
      await waitFor(() => a.bus.stats.published === sent + 1, 2000, 'the publish to be sent');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(a.bus.stats.redisDeliveries, before);

      // Interest removed: no more deliveries to B.
      b.bus.removeInterest('CH:x');
      await settle(b.bus);
      a.bus.publish('CH:x', Buffer.from('late'));
      a.bus.publish('CH:x2', Buffer.from('other'));
      b.bus.addInterest('CH:x2');
      await settle(b.bus);
      a.bus.publish('CH:x2', Buffer.from('after'));
      await waitFor(() => b.rx.published.some((p) => p.msg === 'after'), 5000, 'B receives on its new interest');
      assert.ok(!b.rx.published.some((p) => p.msg === 'late'), 'nothing after the interest went away');
    });

    it('carries the publishCounter budget, unicasts to the CID holder, reaches everyone, answers requests', async () => {
      const prefix = `t${++prefixN}`;
      const a = await open('A', prefix);
      const b = await open('B', prefix);
      const c = await open('C', prefix);
      b.bus.addInterest('CH:q');
      c.bus.holdCid('?Xabc');
      await settle(a.bus, b.bus, c.bus);
      // The budget is split among the nodes A knows want the key: wait for B's announcement to reach A.
      await waitFor(() => a.bus.remoteWants('CH:q'), 5000, "B's interest known to A");
      a.bus.publish('CH:q', Buffer.from('budget'), 3);
      assert.equal(await a.bus.unicastConfirmed('?Xabc', Buffer.from('hello')), true);
      assert.equal(await a.bus.unicastConfirmed('?gone', Buffer.from('lost')), false, 'no node holds it');
      a.bus.everyone(Buffer.from('all'));
      await waitFor(() => b.rx.published.length === 1 && c.rx.unicasts.length === 1, 5000, 'publish and unicast');
      assert.deepEqual(b.rx.published[0], { key: 'CH:q', msg: 'budget', budget: 3 });
      assert.deepEqual(c.rx.unicasts[0], { cid: '?Xabc', msg: 'hello' });
      await waitFor(() => b.rx.everyoneMsgs.length === 1 && c.rx.everyoneMsgs.length === 1, 5000, 'everyone');
      assert.equal(a.rx.everyoneMsgs.length, 0);
      assert.equal(await a.bus.request('B', 'probe', 'x', 3000), 'probe:x:from:A');
      assert.equal(await a.bus.request('nobody', 'probe', 'x', 3000), null, 'a missing node answers null at once');
    });

    it('tells other nodes what it wants: deltas, snapshots for late joiners, a clean leave', async () => {
      const prefix = `t${++prefixN}`;
      const a = await open('A', prefix);
      const b = await open('B', prefix);
      const changes: string[] = [];
      a.bus.events.on('remote-interest', (c: { key: string; present: boolean }) => changes.push(`${c.present ? '+' : '-'}${c.key}`));
      b.bus.addInterest('CH:x');
      b.bus.addInterest('CID:dev@state');
      await waitFor(() => a.bus.remoteWants('CH:x') && a.bus.remoteWants('CID:dev@state'), 5000, 'A learns B wants them');
      assert.equal(b.bus.remoteWants('CH:x'), false, 'a node does not count its own interest');
      b.bus.removeInterest('CH:x');
      await waitFor(() => !a.bus.remoteWants('CH:x'), 5000, 'A learns B stopped');
      assert.deepEqual(changes.sort(), ['+CH:x', '+CID:dev@state', '-CH:x'].sort());
      // A node that joins later gets a snapshot of everyone's interests.
      const c = await open('C', prefix);
      await waitFor(() => c.bus.remoteWants('CID:dev@state'), 5000, 'C learns from a snapshot');
      assert.equal(c.bus.remote.nodesFor('CID:dev@state'), 1);
      await b.bus.leave();
      await waitFor(() => !a.bus.remoteWants('CID:dev@state') && !c.bus.remoteWants('CID:dev@state'), 5000, 'B left');
    });

    it('counts malformed envelopes and keeps going', async () => {
      const prefix = `t${++prefixN}`;
      const b = await open('B', prefix);
      b.bus.addInterest('CH:m');
      await settle(b.bus);
      const a = await open('A', prefix);
      if (mode !== 'sharded') await engine.inject(`${prefix}:k:CH:m`, Buffer.from([0xc1, 0xff, 0x00]));
      else await (a.bus as unknown as { links: RedisLinks }).links.publish(`${prefix}:k:CH:m`, Buffer.from('not msgpack'));
      a.bus.publish('CH:m', Buffer.from('fine'));
      await waitFor(() => b.rx.published.length === 1, 5000, 'the good one after the bad one');
      assert.equal(b.bus.stats.malformed, 1);
    });
  });
}
