// The workers' bus without Redis, in one process: two servers play two workers, each linked to one BusRelay (the
// primary's) over an in-memory IPC pipe, with real sockets on 127.0.0.1. The process test
// (test/cluster/workers-ipc.test.ts) checks the real CLI end to end; here: a plain JSON device on the other worker
// sees its publisher's CID, the store answers over the pipe, and a worker whose pipe closes is taken for dead —
// its subscriptions go at once, and its devices' close notices reach watchers on the other worker.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BusRelay } from '../../src/workers/bus-relay.js';
import { IpcPort, memoryPipe, type IpcEndpoint, type IpcMessage, type MemoryPipe } from '../../src/workers/ipc.js';
import { ClientPool } from '../kit/raw-client.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { closeNotice, expectMsg, sub, text } from '../kit/messages.js';
import { DevicePool } from '../plain/ws-device.js';
import { clusterOf, interestKnown, settled } from '../cluster/broker-support.js';
import { waitFor } from '../kit/wait.js';

describe("the workers' bus through the primary (BusRelay over IPC pipes)", () => {
  const relay = new BusRelay();
  const pipes: MemoryPipe[] = [];
  const servers: IosigServer[] = [];
  const pool = new ClientPool();
  const devices = new DevicePool();

  /** A server that is worker `n`, its bus on a pipe to the relay. */
  async function worker(n: number): Promise<IosigServer> {
    const pipe = memoryPipe();
    pipes.push(pipe);
    relay.attach(new IpcPort(pipe.primary));
    const server = await startServer({ cluster: { primary: new IpcPort(pipe.worker), nodeId: `w${n}`, prefix: 'wk', heartbeatMs: 200, leaseMs: 800 } });
    servers.push(server);
    return server;
  }

  let a: IosigServer;
  let b: IosigServer;
  before(async () => {
    a = await worker(0);
    b = await worker(1);
  });
  afterEach(async () => {
    devices.closeAll();
    await pool.closeAll();
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('a plain JSON device on one worker sees the CID of a publisher on the other', async () => {
    const { device } = await devices.json(b.wsPort!, 'news');
    await interestKnown('CH:news', [a]);
    const pub = await pool.ready('cong', portOf(a, 'cong'));
    pub.send(text('news', 'over the pipe'));
    assert.deepEqual(await device.nextJson(), { tag: 'news', from: pub.cid, type: 'TEXT', payload: 'over the pipe' });
  });

  it("each worker leases its own anonymous-CID slot from the primary's store", async () => {
    const x = await pool.ready('ws', portOf(a, 'ws'));
    const y = await pool.ready('ws', portOf(b, 'ws'));
    assert.notEqual(x.cid.slice(0, 3), y.cid.slice(0, 3));
    const nodes = await clusterOf(a).node.nodes();
    assert.deepEqual(nodes.map((n) => n.id), ['w0', 'w1']);
  });

  it('a worker whose pipe closes is gone: its subscriptions at once, its devices with close notices', async () => {
    const c = await worker(2);
    const dev = await pool.ready('cong', portOf(c, 'cong'));
    const watcher = await pool.ready('ws', portOf(b, 'ws'));
    watcher.send(sub(`${dev.cid}@state`));
    await interestKnown(`CID:${dev.cid}@state`, [c]);
    await settled(c);
    await waitFor(() => relay.hub.publish('wk:n:w2', Buffer.alloc(0)) === 1, 2000, "w2's node channel subscribed");
    pipes[2]!.close(); // the worker process died: the primary sees its pipe close
    assert.equal(relay.hub.publish('wk:n:w2', Buffer.alloc(0)), 0, "w2's subscriptions went with its pipe");
    await expectMsg(watcher, closeNotice(dev.cid, '@state'), 'close notice from a surviving worker');
    let ids = ['w2'];
    await waitFor(
      () => {
        void clusterOf(b).node.nodes().then((nodes) => (ids = nodes.map((n) => n.id)));
        return !ids.includes('w2');
      },
      5000,
      'w2 forgotten',
      50,
    );
  });

  it('a worker that stops reading loses what passes its queue bound, and the primary holds no more', async () => {
    const small = new BusRelay(1000);
    const sent: IpcMessage[] = [];
    const unwritten: Array<() => void> = [];
    let fromWorker: (message: IpcMessage) => void = () => undefined;
    // A pipe whose writes never complete: the worker reads nothing.
    const end: IpcEndpoint = {
      send(message, written) {
        sent.push(message);
        if (written) unwritten.push(written);
        return true;
      },
      onMessage: (listener) => void (fromWorker = listener),
      onClose: () => undefined,
    };
    small.attach(new IpcPort(end));
    fromWorker({ iosig: 'bus', kind: 'tell', id: 0, body: { op: 'sub', channels: ['k'] } });
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 5; i++) {
      assert.equal(small.hub.publish('k', Buffer.alloc(400)), 1);
      await turn();
    }
    assert.equal(sent.length, 2, '800 of the 1000 bytes queued; the third message would pass the bound');
    assert.equal(small.dropped, 3);
    for (const written of unwritten.splice(0)) written(); // the worker reads again
    small.hub.publish('k', Buffer.alloc(400));
    await turn();
    assert.equal(sent.length, 3, 'relayed again once its queue drained');
  });
});
