// Issue 16 item 9: cross-node loss at will, uncounted. A publisher at full rate on node A filled Redis's output
// buffer for node B; Redis cut B's subscription, B lost part of the flood and an unrelated cross-node channel lost
// messages too, while every loss counter stayed 0. Now the receiving side counts what never arrived (per-sender
// sequence numbers on the bus's messages) and every lost Redis connection, and the sending side keeps a publisher
// within its fair share of a per-node bus budget, dropping (and counting) the rest, so the unrelated channel keeps
// its share. Node B is a real io-server process, frozen for the flood (SIGSTOP) like a node that reads too slowly;
// Redis is started with a small pub/sub output buffer limit so that the cut happens within the test, and the flood
// uses large messages so that it reaches it quickly however busy the machine is.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisServerProcess, redisSkipReason } from '../kit/redis-server.js';
import { ClientPool, type RawClient } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { request } from '../http/support.js';
import { encodeFrame } from '../../src/protocol/congsocket.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import { PAYLOAD } from '../../src/protocol/codes.js';
import type { ClusterSample } from '../../src/metrics/cluster-sample.js';
import type { StatusBody } from '../../src/http/dashboard-types.js';
import { Sink } from '../kit/sink.js';
import { NodeProcess } from './node-process.js';
import { clusterOf, interestKnown } from './broker-support.js';
import { sub, text } from '../kit/messages.js';

/** Redis cuts a subscriber whose output buffer passes this (the default is 32 MB). */
const PUBSUB_LIMIT = 4 * 1024 * 1024;
/**
 * How long B stays frozen while the flooder publishes at full rate (unless Redis cuts B sooner): well within B's
 * node lease (3 s), so A never takes B for dead.
 */
const FREEZE_MS = 2000;
/** Large messages: the flood's bytes per second do not depend on how busy the test process is per message. */
const FLOOD_PAYLOAD = Buffer.alloc(32 * 1024, 0x46);
const FLOOD_FRAME = encodeFrame(encodeSignal('flood', PAYLOAD.BINARY, FLOOD_PAYLOAD));
const FRAMES_PER_CHUNK = 16;
const FLOOD_CHUNK = Buffer.concat(Array.from({ length: FRAMES_PER_CHUNK }, () => FLOOD_FRAME));
/** The unrelated channel: one numbered message every CALM_MS, all along. */
const CALM_MS = 10;

async function clusterStatus(port: number): Promise<ClusterSample> {
  const reply = await request(port, '/api/status?limit=1');
  assert.equal(reply.status, 200, reply.body);
  const body = JSON.parse(reply.body) as StatusBody;
  assert.ok(body.metrics.cluster, 'a cluster node');
  return body.metrics.cluster as ClusterSample;
}

async function untilStatus(port: number, cond: (c: ClusterSample) => boolean, what: string): Promise<ClusterSample> {
  let last: ClusterSample | null = null;
  const end = Date.now() + 20_000;
  while (Date.now() < end) {
    last = await clusterStatus(port);
    if (cond(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}`);
}

interface Outcome {
  calmSent: number;
  calmGot: number[];
  floodSent: number;
  floodGot: number;
  a: ClusterSample;
  b: ClusterSample;
  bLog: string;
  frozen: number;
}

describe('cross-node loss is counted, and a flood cannot take the bus from other publishers', { skip: redisSkipReason() }, () => {
  let redis: RedisServerProcess;
  let admin: Redis;
  const pool = new ClientPool();
  const servers: IosigServer[] = [];
  const nodes: NodeProcess[] = [];

  before(async () => {
    redis = await RedisServerProcess.start();
    admin = new Redis(redis.url);
    await admin.config('SET', 'client-output-buffer-limit', `pubsub ${PUBSUB_LIMIT} 0 0`);
  });

  /** True once Redis has closed node `node`'s subscriber connection. */
  async function cut(node: string): Promise<boolean> {
    const clients = String(await admin.call('CLIENT', 'LIST'));
    return !clients.includes(`name=iosig:${node}:sub `);
  }
  afterEach(async () => {
    await pool.closeAll();
    await Promise.all(servers.splice(0).map((s) => s.close()));
    for (const n of nodes.splice(0)) {
      n.resume();
      await n.stop();
    }
  });
  after(async () => {
    admin.disconnect();
    await redis.stop();
  });

  /**
   * Node A (here, with `busRate`) and node B (a process). On A a flooder and a calm publisher; on B their
   * subscribers. B freezes while the flooder tries FLOOD_BYTES, then carries on; the calm channel runs all along.
   */
  async function flood(prefix: string, busRate: number): Promise<Outcome> {
    const b = await NodeProcess.start(['--cluster', redis.url, '--cluster-prefix', prefix, '--node-id', `${prefix}-b`]);
    nodes.push(b);
    const a = await startServer({ cluster: { url: redis.url, prefix, nodeId: `${prefix}-a`, heartbeatMs: 200, leaseMs: 800, busRate } });
    servers.push(a);
    const floodSink = await Sink.open('cong', b.congPort);
    await floodSink.join('flood');
    const calmSub = await pool.ready('cong', b.congPort);
    calmSub.send(sub('calm'));
    await calmSub.sync();
    await interestKnown('CH:flood', [a]);
    await interestKnown('CH:calm', [a]);
    const flooder = await pool.ready('cong', portOf(a, 'cong'));
    // Another client: the fair share is per client (an address while anonymous), not per connection.
    const calm = await pool.ready('cong', portOf(a, 'cong'), { localAddress: '127.0.0.2' });

    const calmGot: number[] = [];
    const collect = async (c: RawClient, until: number): Promise<void> => {
      while (!calmGot.includes(until)) {
        const msg = await c.next(10_000);
        calmGot.push(Number(msg.subarray(2 + msg[1]! + 1, msg.length - 1).toString()));
      }
    };
    let calmSent = 0;
    let floodSent = 0;
    let frozen = 0;
    const ticker = setInterval(() => calm.send(text('calm', String(++calmSent))), CALM_MS);
    try {
      await waitFor(() => calmSent >= 5, 5000, 'the calm channel running');
      b.pause();
      const frozenAt = Date.now();
      try {
        while (Date.now() - frozenAt < FREEZE_MS && !(await cut(`${prefix}-b`))) {
          flooder.sendRaw(FLOOD_CHUNK);
          floodSent += FRAMES_PER_CHUNK;
          await flooder.sync(20_000);
        }
      } finally {
        b.resume();
        frozen = Date.now() - frozenAt;
      }
      // B finds out whether Redis cut it (once it has read what was left on the dead connection), and if so
      // subscribes everything again.
      const wasCut = await cut(`${prefix}-b`);
      await untilStatus(b.wsPort, (c) => c.ready && c.disconnects.subscribe >= (wasCut ? 1 : 0) && c.resubscribes === 1 + c.disconnects.subscribe, 'node B ready');
      const beforeLast = calmSent;
      await waitFor(() => calmSent >= beforeLast + 5, 5000, 'the calm channel after the flood');
    } finally {
      clearInterval(ticker);
    }
    // The last messages of both streams (one stream: A's data to B) reveal any gap before them.
    flooder.send(encodeSignal('flood', PAYLOAD.BINARY, FLOOD_PAYLOAD));
    floodSent++;
    await flooder.sync();
    calm.send(text('calm', String(++calmSent)));
    await collect(calmSub, calmSent);
    const aSample = clusterOf(a).sample();
    const bSample = await untilStatus(b.wsPort, (c) => c.received + c.gaps === aSample.published, 'B to account for every envelope A sent');
    await floodSink.until(() => floodSink.signals + calmGot.length === bSample.received, 10_000, 'every envelope B got delivered');
    floodSink.close();
    return { calmSent, calmGot, floodSent, floodGot: floodSink.signals, a: aSample, b: bSample, bLog: b.log, frozen };
  }

  it('without a budget: Redis cuts the slow node, and every envelope it never got is counted as a gap', async () => {
    // The cut needs more than PUBSUB_LIMIT bytes to reach Redis while B is frozen: on a host so loaded that the
    // flooder cannot push that much in FREEZE_MS the run is repeated (a fresh cluster prefix), at most three times.
    let prefix = 'loss';
    let o = await flood(prefix, 0);
    for (let attempt = 2; attempt <= 3 && o.b.disconnects.subscribe === 0; attempt++) {
      console.log(`# no budget, attempt ${attempt - 1}: B was not cut (flood ${o.floodGot}/${o.floodSent} in ${o.frozen} ms); again`);
      prefix = `loss${attempt}`;
      o = await flood(prefix, 0);
    }
    console.log(`# no budget, B frozen ${o.frozen} ms: B cut ${o.b.disconnects.subscribe}×; flood ${o.floodGot}/${o.floodSent}; calm ${o.calmGot.length}/${o.calmSent}; gaps ${o.b.gaps}; A dropped ${o.a.dropped}`);
    assert.ok(o.b.disconnects.subscribe >= 1, 'Redis cut B for its output buffer');
    assert.match(o.bLog, /the Redis subscribe connection was lost/, 'the cut is logged');
    assert.equal(o.a.dropped, 0, 'nothing was dropped by the sender');
    const missed = o.calmSent + o.floodSent - o.calmGot.length - o.floodGot;
    assert.ok(missed > 0, 'messages were lost');
    assert.equal(o.b.gaps, missed, 'the gap counter is exactly what B missed');
    assert.equal(o.b.gapsBySender[o.a.node], missed, 'and it names the sender');
    assert.ok(o.bLog.includes(`envelope(s) from node ${prefix}-a on ${prefix}:n:${prefix}-b never arrived`), 'the gap is logged');
    assert.ok(o.calmGot.length < o.calmSent, 'the unrelated channel lost messages too');
  });

  it('with a budget: the flood is cut down on the sender (counted), B is never cut and the calm channel gets everything', async () => {
    const o = await flood('fair', 1024 * 1024);
    const dropped = o.a.droppedBy.share + o.a.droppedBy.budget;
    console.log(`# 1 MiB/s budget, B frozen ${o.frozen} ms: B cut ${o.b.disconnects.subscribe}×; flood ${o.floodGot}/${o.floodSent} (dropped on A: share ${o.a.droppedBy.share}, budget ${o.a.droppedBy.budget}); calm ${o.calmGot.length}/${o.calmSent}; gaps ${o.b.gaps}`);
    assert.equal(o.b.disconnects.subscribe, 0, 'Redis never had to cut B');
    assert.equal(o.b.gaps, 0, 'nothing was lost on the way');
    assert.deepEqual(o.calmGot, Array.from({ length: o.calmSent }, (_, i) => i + 1), 'the calm channel got every message, in order');
    assert.ok(dropped > 0, 'the flood was cut down on the sender');
    assert.equal(o.a.dropped, dropped, 'and nothing else was dropped');
    assert.equal(o.floodGot, o.floodSent - dropped, 'every flood message the budget let through arrived');
  });
});
