// What a cluster shows about itself: /metrics with a node label and the bus counters, /api/status with the
// nodes and cluster-wide totals, and `sudo cid` listing CIDs of every node.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BUS_ENGINES } from './engines.js';
import { ClientPool } from '../kit/raw-client.js';
import { sleep, waitFor } from '../kit/wait.js';
import { portOf, type IosigServer } from '../kit/server.js';
import { parsePrometheus, request, sampleValue } from '../http/support.js';
import { createSudoService } from '../../src/services/sudo.js';
import { ADMIN, AUTH_PARAM, ServicePeer, assertReply } from '../services/support.js';
import { clusterOf, startTwoNodes, type TwoNodes } from './broker-support.js';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../kit/browser.js';
import { needs } from '../kit/tools.js';

describe('cluster observability', () => {
  // One Chromium for the engines' dashboard tests (a launch costs about two seconds of CPU), started by the first.
  let browser: Promise<Browser> | undefined;
  const chromium = (): Promise<Browser> => (browser ??= launchChromium());
  after(async () => {
    await (await browser?.catch(() => undefined))?.close();
  });

  for (const engine of BUS_ENGINES) {
    describe(`cluster observability on ${engine.label}`, { skip: engine.skip }, () => {
      let nodes: TwoNodes | undefined;
      let a: IosigServer;
      let b: IosigServer;
      const pool = new ClientPool();

      before(async () => {
        // createServer also takes `services`; startServer passes every option through.
        const opts = { auth: { param: AUTH_PARAM }, authFailDelay: 50, services: [createSudoService()] };
        nodes = await startTwoNodes('obs', opts, engine);
        ({ a, b } = nodes);
      });
      afterEach(() => pool.closeAll());
      after(() => nodes?.stop());

      it('/metrics labels every series with the node and exposes the bus counters', async () => {
        const reply = await request(a.wsPort!, '/metrics');
        assert.equal(reply.status, 200);
        const node = clusterOf(a).node.nodeId;
        const parsed = parsePrometheus(reply.body);
        assert.equal(sampleValue(parsed, `iosig_cluster_bus_up{node="${node}"}`), 1);
        for (const reason of ['down', 'in_flight', 'budget', 'share', 'refused']) {
          assert.equal(sampleValue(parsed, `iosig_cluster_dropped_total{reason="${reason}",node="${node}"}`), 0, `dropped, ${reason}`);
        }
        assert.equal(sampleValue(parsed, `iosig_cluster_gaps_total{node="${node}"}`), 0);
        for (const link of ['publish', 'subscribe']) assert.equal(sampleValue(parsed, `iosig_cluster_bus_disconnects_total{link="${link}",node="${node}"}`), 0);
        assert.ok(reply.body.includes(`iosig_online_cids{node="${node}"}`), 'node label on the ordinary series too');
      });

      it('/api/status lists the nodes with their connections, lag and losses, and cluster totals', async () => {
        await pool.ready('ws', portOf(a, 'ws'));
        await pool.ready('cong', portOf(b, 'cong'));
        await pool.ready('cong', portOf(b, 'cong'));
        await waitFor(() => (clusterOf(a).sample().totals.connections === 3), 5000, 'heartbeats to carry the counts');
        const reply = await request(a.wsPort!, '/api/status');
        assert.equal(reply.status, 200);
        const body = JSON.parse(reply.body) as { metrics: { cluster: { node: string; nodes: { id: string; connections: number; lagMs: number; dropped: number; address: string }[]; totals: { nodes: number; connections: number } } } };
        const { cluster } = body.metrics;
        assert.equal(cluster.node, clusterOf(a).node.nodeId);
        assert.equal(cluster.totals.nodes, 2);
        assert.equal(cluster.totals.connections, 3);
        const byId = new Map(cluster.nodes.map((n) => [n.id, n]));
        assert.equal(byId.get(clusterOf(b).node.nodeId)?.connections, 2);
        assert.match(byId.get(clusterOf(b).node.nodeId)?.address ?? '', /cong:\d+/);
        for (const n of cluster.nodes) assert.ok(n.lagMs >= 0, 'a measured bus round trip');
      });

      it('sudo cid lists the CIDs of every node', async () => {
        const onA = await pool.ready('ws', portOf(a, 'ws'));
        const onB = await pool.ready('cong', portOf(b, 'cong'));
        const admin = await ServicePeer.login(pool, 'ws', portOf(a, 'ws'), ADMIN.id, ADMIN.key);
        // Each node records its CIDs in Redis asynchronously: ask until all three are there (bounded).
        let cids: string[] = [];
        for (let attempt = 0; attempt < 50; attempt++) {
          const reply = await admin.call('sudo', 'cid');
          assert.equal(reply.status, 0);
          cids = reply.body as string[];
          if ([onA.cid, onB.cid, ADMIN.cid].every((cid) => cids.includes(cid))) break;
          await sleep(50);
        }
        for (const cid of [onA.cid, onB.cid, ADMIN.cid]) assert.ok(cids.includes(cid), `${cid} listed`);
        assertReply(await admin.call('sudo', 'subscribers', 'CH:none'), { status: 0, body: [] });
      });

      it('the dashboard page draws both nodes and the cluster totals, live', needs('chromium'), async () => {
        const page = await (await chromium()).newPage();
        try {
          page.setDefaultTimeout(5000);
          await page.goto(`http://127.0.0.1:${a.wsPort}/`);
          const [idA, idB] = [clusterOf(a).node.nodeId, clusterOf(b).node.nodeId];
          await page.locator('#cluster-panel').waitFor({ state: 'visible' });
          await page.locator(`#nodes tr[data-node="${idA}"]`).waitFor();
          await page.locator(`#nodes tr[data-node="${idB}"]`).waitFor();
          // The feed redraws the table as it goes: count the rows once a redraw is done.
          let rows = 0;
          for (const end = Date.now() + 5000; (rows = await page.locator('#nodes tbody tr').count()) !== 2 && Date.now() < end; ) await sleep(50);
          assert.equal(rows, 2);
          assert.match((await page.locator(`#nodes tr[data-node="${idB}"]`).textContent()) ?? '', /cong:\d+/, 'the address');
          // The feed keeps the table current: a device joining node B shows up in B's row and in the totals.
          const before = clusterOf(a).sample().totals.connections;
          await pool.ready('cong', portOf(b, 'cong'));
          await page.locator('#cluster-summary', { hasText: `2 nodes · ${before + 1} connections` }).waitFor();
          const cells = await page.locator(`#nodes tr[data-node="${idB}"] td`).allTextContents();
          assert.equal(cells.length, 9);
          assert.ok(Number(cells[2]) >= 1, `B's connections (${cells[2]})`);
          assert.match(cells[4]!, /^\d+\.\d ms$/, 'a measured bus lag');
          assert.equal(cells[5], '0', 'nothing dropped');
          assert.equal(cells[6], '0', 'nothing missed');
        } finally {
          await page.close();
        }
      });
    });
  }
});
