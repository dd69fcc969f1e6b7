// The publishCounter quota across three nodes: a publish reaches at most N subscribers cluster-wide, the
// publisher's own node first; the rest is split among the interested nodes (budget-split.ts).
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BUS_ENGINES, type BusEngineRun } from './engines.js';
import { ClientPool, type RawClient, type Transport } from '../kit/raw-client.js';
import { sleep } from '../kit/wait.js';
import { portOf, type IosigServer } from '../kit/server.js';
import { sub, text } from '../kit/messages.js';
import { DEFAULT_LEVEL, QUOTA_TABLE } from '../../src/protocol/codes.js';
import { interestKnown, settled, startNodeServer } from './broker-support.js';

/** Anonymous clients get the default level; its publishCounter is the cap under test. */
const CAP = QUOTA_TABLE[DEFAULT_LEVEL]!.publishCounter;

for (const engine of BUS_ENGINES) {
  describe(`publishCounter across three cluster nodes on ${engine.label}`, { skip: engine.skip }, () => {
    let run: BusEngineRun;
    let nodes: IosigServer[];
    const pool = new ClientPool();

    before(async () => {
      run = await engine.start();
      nodes = [];
      for (let i = 0; i < 3; i++) nodes.push(await startNodeServer(run, 'quota', { useQuota: { publishCounter: true } }));
    });
    afterEach(() => pool.closeAll());
    after(async () => {
      for (const node of nodes ?? []) await node.close();
      await run?.stop();
    });

    async function subscribers(node: IosigServer, n: number, tag: string): Promise<RawClient[]> {
      const subs: RawClient[] = [];
      for (let i = 0; i < n; i++) {
        const kind: Transport = i % 2 === 0 ? 'ws' : 'cong';
        const c = await pool.ready(kind, portOf(node, kind));
        c.send(sub(tag));
        await c.sync();
        subs.push(c);
      }
      return subs;
    }

    /** Signals each subscriber has received so far (read through a server round trip each). */
    async function received(subs: RawClient[], counts: number[]): Promise<number> {
      for (const [i, s] of subs.entries()) counts[i]! += (await s.sync()).length;
      return counts.reduce((sum, n) => sum + n, 0);
    }

    it(`a publish reaches at most ${CAP} subscribers cluster-wide, local ones first`, async () => {
      const [a, b, c] = nodes as [IosigServer, IosigServer, IosigServer];
      // The remote nodes' interest comes first, so the local subscribers join a channel that already has the remote group.
      const onB = await subscribers(b, CAP, 'fan');
      const onC = await subscribers(c, CAP, 'fan');
      await settled(b, c);
      await interestKnown('CH:fan', [a]);
      const local = Math.floor(CAP / 3);
      const onA = await subscribers(a, local, 'fan');
      const pub = await pool.ready('cong', portOf(a, 'cong'));
      pub.send(text('fan', 'capped'));

      const all = [...onA, ...onB, ...onC];
      const counts = all.map(() => 0);
      // Bounded: collect until the cap is reached or 5 s pass, then give stragglers a moment (any extra is the bug).
      const end = Date.now() + 5000;
      while ((await received(all, counts)) < CAP && Date.now() < end) await sleep(50);
      await sleep(300);
      const total = await received(all, counts);
      const perNode = [onA, onB, onC].map((group) => group.reduce((sum, s) => sum + counts[all.indexOf(s)]!, 0));

      assert.ok(total > 0, 'the publish reached someone');
      assert.ok(total <= CAP, `at most ${CAP} deliveries cluster-wide, got ${total} (per node ${perNode})`);
      assert.ok(counts.every((n) => n <= 1), 'each subscriber at most once');
      assert.equal(perNode[0], local, "every subscriber on the publisher's node first");
      assert.ok(perNode[1]! > 0 && perNode[2]! > 0, `the rest shared by both remote nodes (per node ${perNode})`);
      assert.equal(total, CAP, 'every remote node had subscribers enough for its share');
    });
  });
}
