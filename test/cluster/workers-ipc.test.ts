// `io-server --workers 2` with no Redis configured (issue 17): the workers' bus runs through the primary over
// node's cluster IPC. Real processes, real sockets: a channel signal, a unicast by CID and a retained signal each
// cross from one worker to the other. Which worker a client landed on shows in its anonymous CID (each worker
// leases its own slot from the primary's store).
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientPool, type RawClient } from '../kit/raw-client.js';
import { sub, text } from '../kit/messages.js';
import { NodeProcess } from './node-process.js';
import { sleep } from '../kit/wait.js';

const slotOf = (client: RawClient): string => client.cid.slice(0, 3);

/** Interest crosses the workers asynchronously: retry `send` until `client` gets `expected` (bounded). */
async function sendUntilSeen(send: () => void, client: RawClient, expected: Buffer, attempts = 30): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    send();
    try {
      if ((await client.next(300)).equals(expected)) return;
    } catch {
      // not yet
    }
    await client.sync(); // drain whatever else arrived
    await sleep(50);
  }
  throw new Error(`never arrived at ${client.cid}: ${expected.toString('latin1')}`);
}

describe('io-server --workers 2 without Redis: the workers are one broker over IPC', () => {
  let host: NodeProcess;
  const pool = new ClientPool();

  /** A client on each worker: CongSocket connections are handed to the workers in turn. */
  async function onBothWorkers(): Promise<[RawClient, RawClient]> {
    const first = await pool.ready('cong', host.congPort);
    for (let i = 0; i < 16; i++) {
      const other = await pool.ready(i % 2 ? 'ws' : 'cong', i % 2 ? host.wsPort : host.congPort);
      if (slotOf(other) !== slotOf(first)) return [first, other];
    }
    throw new Error('every connection landed on one worker');
  }

  /** Another client on the worker of `like`. */
  async function besides(like: RawClient): Promise<RawClient> {
    for (let i = 0; i < 16; i++) {
      const c = await pool.ready('cong', host.congPort);
      if (slotOf(c) === slotOf(like)) return c;
    }
    throw new Error(`no second connection on the worker of ${like.cid}`);
  }

  before(async () => {
    host = await NodeProcess.start(['--workers', '2']);
    await host.waitForLines(/ports: websocket \d+/, 2, 60_000);
    assert.match(host.log, /joined through this process, no Redis/);
  });
  afterEach(() => pool.closeAll());
  after(() => host?.stop());

  it('a channel signal published on one worker reaches a subscriber on the other', async () => {
    const [pub, rx] = await onBothWorkers();
    rx.send(sub('feed'));
    await rx.sync();
    await sendUntilSeen(() => pub.send(text('feed', 'hello')), rx, text('feed', 'hello'));
  });

  it('a unicast by CID reaches the device on the other worker', async () => {
    const [pub, rx] = await onBothWorkers();
    await sendUntilSeen(() => pub.send(text(`${rx.cid}@note`, 'direct')), rx, text('@note', 'direct'));
  });

  it('a retained signal published on one worker replays to a late subscriber on the other', async () => {
    const [pub, rx] = await onBothWorkers();
    pub.send(text('status$last', 'ON'));
    await pub.sync();
    // The value reaches the primary's store within 100 ms; a late subscriber on the other worker reads it there.
    // Each attempt is a fresh first subscriber on that worker (the last one left, so the key is looked up again).
    for (let attempt = 0; ; attempt++) {
      const late = attempt === 0 ? rx : await besides(rx);
      late.send(sub('status$last'));
      try {
        assert.ok((await late.next(500)).equals(text('status$last', 'ON')));
        return;
      } catch (err) {
        if (attempt >= 20) throw err;
        late.close();
        await sleep(50);
      }
    }
  });
});
