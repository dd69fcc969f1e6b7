// Router rules over the in-memory link: no sockets, so every case is deterministic and fast.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IosigServer } from '../../src/server.js';
import { MSG } from '../../src/protocol/codes.js';
import { MemClient } from './support.js';
import { inside } from '../kit/inside.js';

let server: IosigServer;

const open = (opts = {}): Promise<MemClient> => MemClient.open(server, opts);

describe('router over the in-memory link', () => {
  before(async () => {
    server = await createServer({ congPort: 0, host: '127.0.0.1', http: false, log: () => {} });
  });
  after(() => server.close());

  it('a channel publish reaches every subscriber, not the unsubscribed', async () => {
    const [a, b, c, pub] = await Promise.all([open(), open({ transport: 'cong' }), open(), open()]);
    a.subscribe('room');
    b.subscribe('room');
    c.subscribe('elsewhere');
    await Promise.all([a.sync(), b.sync(), c.sync()]);
    pub.signal('room', 'hello');
    assert.deepEqual(await a.nextSignal(), { tag: 'room', text: 'hello' });
    assert.deepEqual(await b.nextSignal(), { tag: 'room', text: 'hello' });
    assert.equal(await c.quiet(), true);
    a.unsubscribe('room');
    await a.sync();
    pub.signal('room', 'again');
    assert.deepEqual(await b.nextSignal(), { tag: 'room', text: 'again' });
    assert.equal(await a.quiet(), true);
    for (const x of [a, b, c, pub]) x.close();
  });

  it('comma lists subscribe to each element', async () => {
    const [a, pub] = await Promise.all([open(), open()]);
    a.subscribe('x,y');
    await a.sync();
    pub.signal('y', '1');
    pub.signal('x', '2');
    assert.deepEqual(await a.nextSignal(), { tag: 'y', text: '1' });
    assert.deepEqual(await a.nextSignal(), { tag: 'x', text: '2' });
    a.close();
    pub.close();
  });

  it('unicast cid@topic arrives as @topic; offline targets get nothing', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    b.signal(`${a.cid}@direct`, 'u1');
    assert.deepEqual(await a.nextSignal(), { tag: '@direct', text: 'u1' });
    const before = server.metrics().publishes;
    b.signal('?nobody@direct', 'lost');
    await b.sync();
    assert.equal(server.metrics().publishes, before, 'an offline unicast is not a publish');
    a.close();
    b.close();
  });

  it('CID publish @topic reaches subscribers of cid@topic', async () => {
    const [dev, watcher] = await Promise.all([open(), open()]);
    watcher.subscribe(`${dev.cid}@temp`);
    await watcher.sync();
    dev.signal('@temp', '21.5');
    assert.deepEqual(await watcher.nextSignal(), { tag: `${dev.cid}@temp`, text: '21.5' });
    dev.close();
    watcher.close();
  });

  it('home channels (#name) stay within one peer address', async () => {
    const [a, b, other] = await Promise.all([
      open({ peerIp: '203.0.113.5' }),
      open({ peerIp: '203.0.113.5' }),
      open({ peerIp: '203.0.113.6' }),
    ]);
    b.subscribe('#lamp');
    other.subscribe('#lamp');
    await Promise.all([b.sync(), other.sync()]);
    a.signal('#lamp', 'on');
    assert.deepEqual(await b.nextSignal(), { tag: '#lamp', text: 'on' });
    assert.equal(await other.quiet(), true);
    for (const x of [a, b, other]) x.close();
  });

  it('a retained channel message reaches a late subscriber', async () => {
    const pub = await open();
    pub.signal('status$door', 'open');
    await pub.sync();
    const late = await open();
    late.subscribe('status$door');
    assert.deepEqual(await late.nextSignal(), { tag: 'status$door', text: 'open' });
    pub.close();
    late.close();
  });

  it('CID-retained @$topic reaches late subscribers and goes with its owner', async () => {
    const dev = await open();
    dev.signal('@$name', 'lamp');
    await dev.sync();
    const late = await open();
    late.subscribe(`${dev.cid}@$name`);
    assert.deepEqual(await late.nextSignal(), { tag: `${dev.cid}@$name`, text: 'lamp' });
    const cid = dev.cid;
    dev.close();
    await waitClosed(dev);
    // The retained entry went with its owner (Q25).
    await late.sync();
    const later = await open();
    later.subscribe(`${cid}@$name`);
    assert.equal(await later.quiet(), true);
    late.close();
    later.close();
  });

  it('close notices go to <cid>@state subscribers when a peer leaves', async () => {
    const [dev, watcher] = await Promise.all([open(), open()]);
    watcher.subscribe(`${dev.cid}@state`);
    await watcher.sync();
    dev.close();
    const notice = await watcher.nextSignal();
    assert.equal(notice.tag, `${dev.cid}@state`);
    assert.equal(notice.text, 'close\0');
    watcher.close();
  });

  it('channels are forgotten when the last subscriber leaves', async () => {
    const a = await open();
    a.subscribe('temporary');
    await a.sync();
    assert.equal(inside(server).router.channels.has('CH:temporary'), true);
    a.close();
    await waitClosed(a);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(inside(server).router.channels.has('CH:temporary'), false);
  });

  it('delivery counters are kept per group and summed in metrics()', async () => {
    const [a, pub] = await Promise.all([open(), open()]);
    a.subscribe('counted');
    await a.sync();
    const before = server.metrics().deliveries;
    const streamBefore = inside(server).router.stream.stats.deliveries;
    pub.signal('counted', 'x');
    await a.nextSignal();
    assert.equal(inside(server).router.stream.stats.deliveries - streamBefore, 1);
    assert.equal(server.metrics().deliveries - before, 1);
    a.close();
    pub.close();
  });

  it('server signals reach in-memory connections (sendSignal, sendServerSignal)', async () => {
    const a = await open();
    a.subscribe('news');
    await a.sync();
    assert.equal(server.sendSignal('news', 1, Buffer.from('hi')), 1);
    assert.deepEqual(await a.nextSignal(), { tag: 'news', text: 'hi' });
    assert.ok(server.sendServerSignal('notice', { n: 1 }) >= 1);
    const msg = await a.next();
    assert.equal(msg[0], MSG.SERVER_SIGNAL);
    assert.deepEqual(JSON.parse(msg.subarray(1).toString()), { event: 'notice', data: { n: 1 } });
    a.close();
  });
});

async function waitClosed(client: MemClient): Promise<void> {
  for (let i = 0; i < 100 && !client.closed; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(client.closed, true);
}
