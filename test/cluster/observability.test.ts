// What a cluster shows about itself: /metrics with a node label and the bus counters, /api/status with the
// nodes and cluster-wide totals, and `sudo cid` listing CIDs of every node.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisServerProcess, redisSkipReason } from '../auth/redis-server.js';
import { ClientPool } from '../helpers/raw-client.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { portOf, type IosigServer } from '../integration/support.js';
import { parsePrometheus, request, sampleValue } from '../http/support.js';
import { createSudoService } from '../../src/services/sudo.js';
import { ADMIN, AUTH_PARAM, ServicePeer, assertReply } from '../services/support.js';
import { clusterOf, startNodeServer } from './broker-support.js';

describe('cluster observability', { skip: redisSkipReason() }, () => {
  let redis: RedisServerProcess;
  let a: IosigServer;
  let b: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    redis = await RedisServerProcess.start();
    const opts = { auth: { param: AUTH_PARAM }, authFailDelay: 50, services: [createSudoService()] };
    a = await startNodeServer(redis.url, 'obs', opts);
    b = await startNodeServer(redis.url, 'obs', opts);
  });
  afterEach(() => pool.closeAll());
  after(async () => {
    await a?.close();
    await b?.close();
    await redis.stop();
  });

  it('/metrics labels every series with the node and exposes the bus counters', async () => {
    const reply = await request(a.wsPort!, '/metrics');
    assert.equal(reply.status, 200);
    const node = clusterOf(a).node.nodeId;
    const parsed = parsePrometheus(reply.body);
    assert.equal(sampleValue(parsed, `iosig_cluster_bus_up{node="${node}"}`), 1);
    assert.equal(sampleValue(parsed, `iosig_cluster_dropped_total{node="${node}"}`), 0);
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
});
