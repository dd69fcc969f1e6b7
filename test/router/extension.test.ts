// The router's extension points for a cluster (router/extension.ts, delivery/group.ts), exercised with a fake
// remote group over the in-memory link: interest and CID hooks, a CID directory, remote members of a channel.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IosigServer } from '../../src/server.js';
import { PAYLOAD } from '../../src/protocol/codes.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import type { ChannelMembers, DeliveryGroup } from '../../src/delivery/group.js';
import type { Outbound } from '../../src/delivery/outbound.js';
import { waitFor } from '../kit/wait.js';
import { MemClient } from './support.js';
import { inside } from '../kit/inside.js';

let server: IosigServer;

/** The share owner (address unit or device) of the connection holding `cid`: who the bus charges for its publishes. */
function ownerOf(cid: string): string {
  const conn = [...inside(server).registry.sessions].find((c) => c.cid === cid);
  assert.ok(conn, `connection ${cid}`);
  assert.ok(conn.shareOwner, 'an anonymous connection is charged to its address');
  return conn.shareOwner;
}

/** A stand-in for the cluster's remote-nodes group: records what it would put on the bus. */
class FakeRemote implements DeliveryGroup {
  readonly name = 'remote';
  /** Delivery groups count in the broker's one Stats. */
  readonly stats = inside(server).stats;
  readonly sent: { key: string; msg: Buffer; publisher: string | null; owner: string }[] = [];
  members(key: string): ChannelMembers {
    return {
      group: this,
      size: 1,
      publish: (out: Outbound) => {
        this.sent.push({ key, msg: Buffer.from(out.msg), publisher: out.publisher, owner: out.owner });
        this.stats.deliveries++;
        return 1;
      },
    };
  }
}

describe('router extension points', () => {
  before(async () => {
    server = await createServer({ congPort: 0, host: '127.0.0.1', http: false, log: () => {} });
  });
  after(() => server.close());

  it('interest hooks fire on the first local subscriber and when the last one leaves', async () => {
    const events: string[] = [];
    const remove = inside(server).router.addHooks({ interest: (key, present) => events.push(`${present ? '+' : '-'}${key}`) });
    const [a, b] = await Promise.all([MemClient.open(server), MemClient.open(server)]);
    a.subscribe('watched');
    b.subscribe('watched');
    await Promise.all([a.sync(), b.sync()]);
    a.unsubscribe('watched');
    await a.sync();
    assert.deepEqual(events.filter((e) => e.endsWith('CH:watched')), ['+CH:watched']);
    b.close();
    await waitFor(() => events.includes('-CH:watched'), 2000, 'the interest to go');
    assert.deepEqual(events.filter((e) => e.endsWith('CH:watched')), ['+CH:watched', '-CH:watched']);
    remove();
    a.subscribe('watched');
    await a.sync();
    assert.equal(events.length, 2, 'removed hooks hear nothing');
    a.close();
  });

  it('CID hooks report assignment and release', async () => {
    const events: string[] = [];
    const remove = inside(server).router.addHooks({ cid: (cid, held) => events.push(`${held ? '+' : '-'}${cid}`) });
    const a = await MemClient.open(server);
    assert.ok(events.includes(`+${a.cid}`));
    a.close();
    await waitFor(() => events.includes(`-${a.cid}`), 2000, 'the CID release');
    remove();
  });

  it('a remote group attached to a channel gets local publishes; deliverFromRemote skips its origin', async () => {
    const remote = new FakeRemote();
    const members = remote.members('CH:shared');
    inside(server).router.attachMembers('CH:shared', members);
    const [local, pub] = await Promise.all([MemClient.open(server), MemClient.open(server)]);
    local.subscribe('shared');
    await local.sync();
    pub.signal('shared', 'from here');
    assert.deepEqual(await local.nextSignal(), { tag: 'shared', text: 'from here' });
    assert.equal(remote.sent.length, 1, 'one envelope for the remote nodes');
    assert.equal(remote.sent[0]!.key, 'CH:shared');
    // The publisher rides on the message (a plain JSON device's "from"), and so does who the bus charges for it.
    assert.equal(remote.sent[0]!.publisher, pub.cid);
    assert.equal(remote.sent[0]!.owner, ownerOf(pub.cid));
    // The server's own publish: publisher null, charged to nobody's share.
    server.sendSignal('shared', PAYLOAD.TEXT, Buffer.from('from the server'));
    assert.deepEqual(await local.nextSignal(), { tag: 'shared', text: 'from the server' });
    assert.deepEqual(remote.sent.slice(1).map((e) => [e.publisher, e.owner]), [[null, '']]);
    remote.sent.length = 1;
    // A message from the bus reaches local subscribers only.
    const reached = inside(server).router.deliverFromRemote('CH:shared', encodeSignal('shared', PAYLOAD.TEXT, Buffer.from('from afar')), remote);
    assert.equal(reached, 1);
    assert.deepEqual(await local.nextSignal(), { tag: 'shared', text: 'from afar' });
    assert.equal(remote.sent.length, 1, 'never echoed back to the bus');
    assert.ok(server.metrics().deliveries >= remote.stats.deliveries, 'the group is summed into metrics');
    // With only remote interest left, the channel stays; without it, it goes.
    local.close();
    await waitFor(() => inside(server).router.channels.get('CH:shared')?.subscribers.size === 0, 2000, 'the local subscriber to leave');
    assert.equal(inside(server).router.channels.has('CH:shared'), true);
    inside(server).router.detachMembers('CH:shared', members);
    assert.equal(inside(server).router.channels.has('CH:shared'), false);
    pub.close();
  });

  it('a CID directory takes unicasts and retained lookups for CIDs held elsewhere', async () => {
    const unicasts: { cid: string; msg: Buffer; publisher: string | null; owner: string }[] = [];
    inside(server).router.directory = {
      unicast: (cid, out) => {
        if (cid !== '?far') return false;
        unicasts.push({ cid, msg: Buffer.from(out.msg), publisher: out.publisher, owner: out.owner });
        return true;
      },
      retainedFor: (cid, topic) => (cid === '?far' && topic === '$name' ? encodeSignal('?far@$name', PAYLOAD.TEXT, Buffer.from('lamp')) : undefined),
      holds: (cid) => cid === '?far',
    };
    try {
      const a = await MemClient.open(server);
      a.signal('?far@direct', 'hi');
      a.signal('?gone@direct', 'lost');
      await a.sync();
      assert.equal(unicasts.length, 1);
      assert.equal(unicasts[0]!.msg.subarray(2, 2 + unicasts[0]!.msg[1]!).toString(), '@direct', 'retagged before it leaves');
      assert.equal(unicasts[0]!.publisher, a.cid);
      assert.equal(unicasts[0]!.owner, ownerOf(a.cid), 'the bus charges the unicast to its sender');
      a.subscribe('?far@$name');
      assert.deepEqual(await a.nextSignal(), { tag: '?far@$name', text: 'lamp' });
      // A delivery from the bus to a local CID.
      assert.equal(inside(server).router.deliverToCid(a.cid, encodeSignal('@direct', PAYLOAD.TEXT, Buffer.from('back'))), true);
      assert.deepEqual(await a.nextSignal(), { tag: '@direct', text: 'back' });
      a.close();
    } finally {
      inside(server).router.directory = null;
    }
  });
});
