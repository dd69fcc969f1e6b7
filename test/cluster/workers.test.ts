// Issue 16 item 3, on a real `io-server --workers 2` host (a primary and two worker processes over a real
// redis-server): the host keeps one connection budget whichever worker takes a connection. The other --workers
// process tests sit beside this one (workers-tls, workers-logins, workers-crash-loop, workers-no-serve), one file
// each so that the suite runs them in different processes at once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redisSkipReason } from '../kit/redis-server.js';
import type { RawClient } from '../kit/raw-client.js';
import { closeAll, getInAgain, type WorkerHost, workerHostFixture } from './workers-support.js';
import { countGetIn, getsIn } from '../kit/gets-in.js';
import { sleep, waitFor } from '../kit/wait.js';

const PER_ADDRESS = 50;
const GLOBAL = 130;

describe('io-server --workers 2: one budget per address for the whole host', { skip: redisSkipReason() }, () => {
  // The CongSocket clients below stay silent after the greeting for the whole block: no opening deadline cuts them.
  const fixture = workerHostFixture('caps', ['--max-connections-per-address', String(PER_ADDRESS), '--max-connections', String(GLOBAL), '--opening-timeout', '600000']);
  let host: WorkerHost;
  /** Connections from 127.0.0.2 (WebSocket), 127.0.0.3 (CongSocket) and others, refused ones included. */
  const fromTwo: RawClient[] = [];
  const fromThree: RawClient[] = [];
  const open: RawClient[] = [];

  before(() => {
    host = fixture.host;
  });
  after(() => Promise.all([closeAll(open), closeAll(fromTwo), closeAll(fromThree)]));

  it('lets exactly 50 of 150 connections from one address in, on each transport', async () => {
    const ws = await countGetIn('ws', host.wsPort, '127.0.0.2', 150, fromTwo);
    const cong = await countGetIn('cong', host.congPort, '127.0.0.3', 150, fromThree);
    console.log(`# --workers 2 --max-connections-per-address ${PER_ADDRESS}: ${ws} of 150 WebSocket and ${cong} of 150 CongSocket connections got in`);
    assert.equal(ws, PER_ADDRESS, 'WebSocket connections from one address');
    assert.equal(cong, PER_ADDRESS, 'CongSocket connections from one address');
    assert.equal(await host.sum('iosig_connections_refused_total', { cap: 'address' }), 200, 'the refusals, summed over the workers');
    assert.ok(/node="caps-w0"/.test((await host.scrapeEach()).join('')), 'both workers answered');
  });

  it('holds the global cap for the host, not per worker', async () => {
    // 100 are open from the test above; the host takes 30 more, from any address.
    let inside = 0;
    for (let i = 0; i < 60; i++) {
      if (await getsIn(i % 2 ? 'ws' : 'cong', i % 2 ? host.wsPort : host.congPort, `127.0.1.${i + 1}`, open)) inside++;
    }
    assert.equal(inside, GLOBAL - 2 * PER_ADDRESS);
    assert.equal(await host.sum('iosig_connections_refused_total', { cap: 'global' }), 30);
  });

  it('frees the places of closed connections and of a worker that died', async () => {
    // Ten WebSocket connections from 127.0.0.2 leave: ten more get in, not one more.
    const leaving = fromTwo.filter((c) => !c.closed).slice(0, 10);
    await Promise.all(leaving.map((c) => c.close(500)));
    assert.equal(await getInAgain('ws', host.wsPort, '127.0.0.2', 10, fromTwo), 10, 'the freed places are taken again');
    assert.equal(await getsIn('ws', host.wsPort, '127.0.0.2', fromTwo), false, 'and the cap holds again');

    // A worker killed with its connections: its places come back to the host.
    const live = fromThree.filter((c) => !c.closed);
    await host.killWorker();
    await waitFor(() => live.some((c) => c.closed), 5000, 'the dead worker\'s connections to close');
    await sleep(500);
    const lostCong = live.filter((c) => c.closed).length;
    assert.ok(lostCong > 0, `the dead worker held CongSocket connections from 127.0.0.3 (${lostCong})`);
    // CongSocket from 127.0.0.3: exactly the ones the dead worker held get in again, served by the live worker.
    const congBack = await countGetIn('cong', host.congPort, '127.0.0.3', lostCong + 10, fromThree, 5);
    assert.equal(congBack, lostCong, 'the dead worker\'s CongSocket places are free again, no more');
    await host.waitAllServing(3);
  });
});
