// run-suite: own process (it measures stalls of the event loop: another file's work would count as one)
// Issue 9 item 6: state has global and per-connection bounds (subscriptions per connection, channels, retained
// bytes), refusals are counted and logged, and tearing down a connection with very many subscriptions does not
// stall the broker.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { PAYLOAD, STATUS } from '../../src/protocol/codes.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import { decodeResponseMbp } from '../../src/protocol/rpc.js';
import { ClientPool } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { Sink } from '../kit/sink.js';
import { inside } from '../kit/inside.js';
import { iam, sub, subReq } from '../kit/messages.js';

const tags = (prefix: string, from: number, count: number): string =>
  Array.from({ length: count }, (_, i) => `${prefix}${from + i}`).join(',');

describe('state caps', () => {
  let server: IosigServer;
  const lines: string[] = [];
  const pool = new ClientPool();

  before(async () => {
    // The global caps themselves: every client here is on 127.0.0.1, so no per-address share and no reserve
    // (cap-shares.test.ts covers those).
    const capShares = { share: 1, reserve: 0 };
    server = await startServer({ maxSubscriptionsPerConnection: 100, maxChannels: 150, maxRetainedBytes: 64 * 1024, capShares }, lines);
  });
  afterEach(() => pool.closeAll());
  after(() => server.close());

  it('subscriptions past the per-connection cap are refused, counted and logged; SUBSCRIBE_REQ answers ERROR', async () => {
    const c = await pool.ready('cong', portOf(server, 'cong'));
    const before = server.metrics().refusedSubscriptions;
    c.send(subReq(1, tags('s', 0, 130)));
    assert.equal(decodeResponseMbp(await c.next(2000))?.status, STATUS.ERROR, 'a partly refused SUBSCRIBE_REQ answers ERROR');
    const info = await iam(c);
    assert.equal(info.tag.length, 100, 'only the first 100 subscriptions are kept');
    assert.equal(server.metrics().refusedSubscriptions - before, 30);
    c.send(subReq(7, 'one-more'));
    const res = decodeResponseMbp(await c.next(2000));
    assert.equal(res?.status, STATUS.ERROR, 'SUBSCRIBE_REQ past the cap answers ERROR');
    c.send(sub('s5'));
    assert.equal((await iam(c)).tag.length, 100, 're-subscribing an existing channel is not a new subscription');
    assert.ok(lines.some((line) => /subscription/.test(line) && /cap|limit/.test(line)), 'the refusal is logged');
  });

  it('new channels past the channel cap are refused; existing channels can still be joined', async () => {
    const a = await pool.ready('ws', portOf(server, 'ws'));
    const b = await pool.ready('cong', portOf(server, 'cong'));
    const before = server.metrics().refusedChannels;
    a.send(subReq(1, tags('a', 0, 90)));
    assert.equal(decodeResponseMbp(await a.next(2000))?.status, STATUS.OK);
    b.send(subReq(2, tags('b', 0, 90)));
    assert.equal(decodeResponseMbp(await b.next(2000))?.status, STATUS.ERROR);
    assert.equal(server.metrics().channels, 150, 'channel count stops at the cap');
    assert.equal(server.metrics().refusedChannels - before, 30);
    b.send(sub('a1'));
    assert.ok((await iam(b)).tag.some((t) => t.endsWith(':a1')), 'an existing channel can be joined at the cap');
    assert.ok(lines.some((line) => /channel/.test(line) && /cap|limit/.test(line)), 'the refusal is logged');
  });

  it('retained messages stop at the global retained-bytes cap, across connections and both kinds of retained tag', async () => {
    const before = server.metrics().refusedRetained;
    const payload = Buffer.alloc(10_000, 0x52);
    const publishers = await Promise.all([0, 1, 2].map(() => pool.ready('ws', portOf(server, 'ws'))));
    for (const [i, p] of publishers.entries()) {
      p.send(encodeSignal(`room$${i}a`, PAYLOAD.BINARY, payload));
      p.send(encodeSignal(`@$cid${i}`, PAYLOAD.BINARY, payload));
      p.send(encodeSignal(`room$${i}b`, PAYLOAD.BINARY, payload));
      await p.sync();
    }
    const m = server.metrics();
    assert.ok(m.retainedBytes <= 64 * 1024, `retained bytes ${m.retainedBytes} within the cap`);
    assert.equal(m.refusedRetained - before, 3, '9 × 10 kB against a 64 KiB cap: 3 refused');
    // Updating an existing entry within the cap still works.
    publishers[0]!.send(encodeSignal('room$0a', PAYLOAD.BINARY, Buffer.alloc(100)));
    await publishers[0]!.sync();
    assert.ok(server.metrics().retainedBytes < m.retainedBytes, 'an update replaces the old bytes');
    assert.ok(lines.some((line) => /retain/.test(line) && /cap|limit/.test(line)), 'the refusal is logged');
  });
});

describe('teardown of a connection with many subscriptions', () => {
  let server: IosigServer;
  before(async () => {
    server = await startServer({ maxSubscriptionsPerConnection: 300_000, maxChannels: 400_000, maxMessageSize: 1024 * 1024, capShares: { share: 1 } });
  });
  after(() => server.close());

  it('100 000 subscriptions go away without one stall over 50 ms of CPU', async () => {
    const heavy = await Sink.open('cong', portOf(server, 'cong'));
    await heavy.join('');
    const total = 100_000;
    for (let from = 0; from < total; from += 5000) {
      heavy.send(subReq(from % 65536, tags('t', from, 5000)));
      await heavy.sync(20_000);
    }
    assert.equal(server.metrics().subscriptions, total);
    // A stall is a gap between timer ticks during which this process was busy (CPU time, not wall time, so a
    // loaded machine that deschedules us does not count).
    let worst = 0;
    let lastWall = performance.now();
    let lastCpu = process.cpuUsage();
    const tick = setInterval(() => {
      const wall = performance.now();
      const cpu = process.cpuUsage(lastCpu);
      worst = Math.max(worst, Math.min(wall - lastWall, (cpu.user + cpu.system) / 1000));
      lastWall = wall;
      lastCpu = process.cpuUsage();
    }, 2);
    try {
      heavy.close();
      await waitFor(() => server.metrics().subscriptions === 0 && inside(server).registry.sessions.size === 0, 20_000, 'the teardown');
    } finally {
      clearInterval(tick);
    }
    assert.equal(server.metrics().channels, 0);
    assert.ok(worst < 50, `longest busy stretch during teardown: ${worst.toFixed(1)} ms`);
  });
});
