// Every routing rule across two nodes, clients on both transports (docs/protocol.md §5 over the cluster bus).
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BUS_ENGINES } from './engines.js';
import { ClientPool, type Transport } from '../kit/raw-client.js';
import { portOf, type IosigServer } from '../kit/server.js';
import { assertQuiet, closeNotice, expectMsg, hex, iam, sub, text } from '../kit/messages.js';
import { MSG } from '../../src/protocol/codes.js';
import { clusterOf, interestKnown, settled, startTwoNodes, type TwoNodes } from './broker-support.js';
import { waitFor } from '../kit/wait.js';
import { inside } from '../kit/inside.js';

const CLUSTER_CID = /^\?[A-Za-z0-9_-]{6}$/;

for (const engine of BUS_ENGINES) {
  describe(`routing across two cluster nodes on ${engine.label}`, { skip: engine.skip }, () => {
    let nodes: TwoNodes | undefined;
    let a: IosigServer;
    let b: IosigServer;
    const pool = new ClientPool();

    before(async () => {
      nodes = await startTwoNodes('route', {}, engine);
      ({ a, b } = nodes);
    });
    afterEach(() => pool.closeAll());
    after(() => nodes?.stop());

    for (const [ka, kb] of [['ws', 'cong'], ['cong', 'ws']] as [Transport, Transport][]) {
      describe(`publisher on ${ka} (node A), receiver on ${kb} (node B)`, () => {
        it('channels and comma lists', async () => {
          const pub = await pool.ready(ka, portOf(a, ka));
          const rx = await pool.ready(kb, portOf(b, kb));
          assert.match(pub.cid, CLUSTER_CID);
          assert.notEqual(pub.cid.slice(0, 3), rx.cid.slice(0, 3), 'each node has its own CID slot');
          rx.send(sub('x,y'));
          await interestKnown('CH:y', [a]);
          pub.send(text('x', 'one'));
          pub.send(text('y', 'two'));
          pub.send(text('z', 'nobody'));
          await expectMsg(rx, text('x', 'one'));
          await expectMsg(rx, text('y', 'two'));
          await assertQuiet(rx);
        });

        it('unicast cid@topic and CID publish @topic', async () => {
          const pub = await pool.ready(ka, portOf(a, ka));
          const rx = await pool.ready(kb, portOf(b, kb));
          await settled(b); // a unicast to a CID whose channel Redis has not confirmed yet is lost (README)
          pub.send(text(`${rx.cid}@hello`, 'direct'));
          await expectMsg(rx, text('@hello', 'direct'));
          rx.send(sub(`${pub.cid}@temp`));
          await interestKnown(`CID:${pub.cid}@temp`, [a]);
          pub.send(text('@temp', '21.5'));
          await expectMsg(rx, text(`${pub.cid}@temp`, '21.5'));
        });

        it('home channels are shared by private clients of every node', async () => {
          const pub = await pool.ready(ka, portOf(a, ka));
          const rx = await pool.ready(kb, portOf(b, kb));
          rx.send(sub('#room'));
          await interestKnown('PRIVATE:#room', [a]);
          pub.send(text('#room', 'hi'));
          await expectMsg(rx, text('#room', 'hi'));
        });

        it('retained channel and CID signals reach late subscribers on the other node', async () => {
          const pub = await pool.ready(ka, portOf(a, ka));
          const chan = `status${ka}$`;
          pub.send(text(chan, 'on'));
          pub.send(text('@$info', 'v1'));
          await pub.sync();
          // Nobody subscribed anywhere when they were published.
          await waitFor(() => inside(a).router.retained.has(`CH:${chan}`), 2000, 'stored on A');
          await new Promise((r) => setTimeout(r, 300)); // written to Redis within RETAINED_SYNC_MS
          const rx = await pool.ready(kb, portOf(b, kb));
          rx.send(sub(`${chan},${pub.cid}@$info`));
          const got = [hex(await rx.next(3000)), hex(await rx.next(3000))].sort();
          assert.deepEqual(got, [hex(text(chan, 'on')), hex(text(`${pub.cid}@$info`, 'v1'))].sort());
        });

        it('close notices <cid>@state reach watchers on the other node', async () => {
          const dev = await pool.ready(ka, portOf(a, ka));
          const watcher = await pool.ready(kb, portOf(b, kb));
          watcher.send(sub(`${dev.cid}@state`));
          await interestKnown(`CID:${dev.cid}@state`, [a]);
          await dev.close();
          await expectMsg(watcher, closeNotice(dev.cid, '@state'));
        });

        it('SERVER_SIGNAL and "send to every device" from one node reach every node', async () => {
          const onA = await pool.ready(ka, portOf(a, ka));
          const onB = await pool.ready(kb, portOf(b, kb));
          a.sendServerSignal('notice', { n: 1 });
          const expected = Buffer.concat([Buffer.from([MSG.SERVER_SIGNAL]), Buffer.from(JSON.stringify({ event: 'notice', data: { n: 1 } }))]);
          await expectMsg(onA, expected);
          await expectMsg(onB, expected);
          b.sendSignal('all', 1, Buffer.from('x\0'), true);
          await expectMsg(onA, text('all', 'x'));
          await expectMsg(onB, text('all', 'x'));
        });

        it('IAM answers on each node with the node-local view', async () => {
          const onB = await pool.ready(kb, portOf(b, kb));
          onB.send(sub('x'));
          const info = await iam(onB, 'nick');
          assert.equal(info.cid, onB.cid);
          assert.deepEqual(info.tag, ['CH:x']);
        });
      });
    }

    it('one Redis message per cross-node publish, none without remote interest', async () => {
      const pub = await pool.ready('cong', portOf(a, 'cong'));
      const local = await pool.ready('ws', portOf(a, 'ws'));
      local.send(sub('onlyA'));
      await local.sync();
      const before = clusterOf(a).node.bus.stats.published;
      for (let i = 0; i < 20; i++) pub.send(text('onlyA', `m${i}`));
      for (let i = 0; i < 20; i++) await expectMsg(local, text('onlyA', `m${i}`));
      assert.equal(clusterOf(a).node.bus.stats.published, before, 'local-only traffic never touches Redis');
      const rx = await pool.ready('ws', portOf(b, 'ws'));
      rx.send(sub('onlyA'));
      await interestKnown('CH:onlyA', [a]);
      for (let i = 0; i < 20; i++) pub.send(text('onlyA', `n${i}`));
      for (let i = 0; i < 20; i++) await expectMsg(rx, text('onlyA', `n${i}`));
      assert.equal(clusterOf(a).node.bus.stats.published, before + 20, 'one envelope per publish');
    });
  });
}
