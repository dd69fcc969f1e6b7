// Issue 16 item 7: one address filled the global channel cap (10 anonymous connections × 10 000 subscriptions
// filled --max-channels in 2.3 s), after which nobody could join a new channel, logged-in devices included.
// Every global cap a client can fill (channels, retained bytes, retained channels) now has per-owner shares (an
// address while anonymous, a device id once logged in) and a reserve only logged-in sessions may use.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { PAYLOAD, STATUS } from '../../src/protocol/codes.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import { decodeResponseMbp } from '../../src/protocol/rpc.js';
import { ClientPool, type RawClient } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { openPeer, type Peer } from '../kit/peer.js';
import { inside } from '../kit/inside.js';
import { subReq } from '../kit/messages.js';

const CHANNELS = 1000;
/** The defaults: one owner holds at most 10 % of a cap, and the last 10 % is for logged-in sessions. */
const SHARE = CHANNELS / 10;
const ANONYMOUS_CAP = CHANNELS - CHANNELS / 10;
const PARAM = 'dev1.key-dev1.DEV1.3,dev2.key-dev2.DEV2.3';

const tags = (prefix: string, count: number): string => Array.from({ length: count }, (_, i) => `${prefix}${i}`).join(',');

async function subscribeStatus(c: RawClient, mid: number, list: string): Promise<number | undefined> {
  c.send(subReq(mid, list));
  return decodeResponseMbp(await c.next(5000))?.status;
}

async function loggedInStatus(p: Peer, mid: number, list: string): Promise<number | undefined> {
  p.wire.send(subReq(mid, list));
  return decodeResponseMbp((await p.nextPlain(5000)).plain)?.status;
}

async function device(pool: ClientPool, server: IosigServer, id: string, localAddress: string): Promise<Peer> {
  const p = await openPeer(pool, server, 'cong', { localAddress });
  await p.login(id, `key-${id}`);
  return p;
}

describe('per-address shares of the channel cap', () => {
  let server: IosigServer;
  const lines: string[] = [];
  const pool = new ClientPool();

  before(async () => {
    server = await startServer({ auth: { param: PARAM }, authFailDelay: 20, maxChannels: CHANNELS, maxSubscriptionsPerConnection: CHANNELS }, lines);
  });
  afterEach(async () => {
    await pool.closeAll();
    await waitFor(() => inside(server).registry.sessions.size === 0 && server.metrics().channels === 0, 5000, 'every connection and channel gone');
  });
  after(() => server.close());

  it('10 connections from one address cannot starve a device on another address nor a logged-in device', async () => {
    const attackers = await Promise.all(Array.from({ length: 10 }, () => pool.ready('cong', portOf(server, 'cong'), { localAddress: '127.0.0.2' })));
    const before = server.metrics().refusedChannelShare;
    for (const [i, c] of attackers.entries()) {
      assert.equal(await subscribeStatus(c, i, tags(`flood${i}-`, CHANNELS)), STATUS.ERROR, 'the flood is refused past the share');
    }
    assert.equal(server.metrics().channels, SHARE, `one address holds ${SHARE} channels, not the ${CHANNELS} cap`);
    assert.equal(server.metrics().refusedChannelShare - before, 10 * CHANNELS - SHARE, 'every refusal counted');
    assert.ok(lines.some((l) => /channels refused/.test(l) && /share/.test(l) && /127\.0\.0\.2/.test(l)), 'the refusal is logged with the address');

    const other = await pool.ready('ws', portOf(server, 'ws'), { localAddress: '127.0.0.3' });
    assert.equal(await subscribeStatus(other, 1, tags('other-', 50)), STATUS.OK, 'another address still creates channels');
    const dev = await device(pool, server, 'dev1', '127.0.0.2');
    assert.equal(await loggedInStatus(dev, 1, tags('dev-', 50)), STATUS.OK, 'a logged-in device on the flooding address has its own share');
    // An existing channel costs no share: the flooding address can still join what others created.
    assert.equal(await subscribeStatus(attackers[0]!, 99, 'other-1,dev-1'), STATUS.OK);
  });

  it('the last part of the cap is for logged-in sessions: anonymous addresses together stop short of it', async () => {
    // Nine addresses with their whole share each reach the anonymous part of the cap.
    const fillers = await Promise.all(Array.from({ length: 9 }, (_, i) => pool.ready('cong', portOf(server, 'cong'), { localAddress: `127.0.1.${i + 1}` })));
    for (const [i, c] of fillers.entries()) assert.equal(await subscribeStatus(c, i, tags(`fill${i}-`, SHARE)), STATUS.OK);
    assert.equal(server.metrics().channels, ANONYMOUS_CAP);
    const before = server.metrics().refusedChannels;
    const late = await pool.ready('ws', portOf(server, 'ws'), { localAddress: '127.0.1.20' });
    assert.equal(await subscribeStatus(late, 1, 'late'), STATUS.ERROR, 'anonymous sessions cannot enter the reserve');
    assert.equal(server.metrics().refusedChannels - before, 1);
    assert.ok(lines.some((l) => /kept for logged-in devices/.test(l)), 'the reserve refusal is logged');
    const dev = await device(pool, server, 'dev2', '127.0.1.20');
    assert.equal(await loggedInStatus(dev, 1, tags('reserve-', 50)), STATUS.OK, 'a logged-in device joins new channels in the reserve');
    assert.equal(server.metrics().channels, ANONYMOUS_CAP + 50);
  });

  it('a channel stays charged to the address that created it while it lives, and is given back when it goes', async () => {
    const creator = await pool.ready('cong', portOf(server, 'cong'), { localAddress: '127.0.2.1' });
    assert.equal(await subscribeStatus(creator, 1, tags('made-', SHARE)), STATUS.OK);
    const joiner = await pool.ready('cong', portOf(server, 'cong'), { localAddress: '127.0.2.2' });
    assert.equal(await subscribeStatus(joiner, 1, tags('made-', SHARE)), STATUS.OK, 'joining existing channels costs the joiner nothing');
    assert.equal(await subscribeStatus(joiner, 2, tags('own-', SHARE)), STATUS.OK, "the joiner's own share is untouched");
    // Leaving does not launder the charge: the channels live on (the joiner is there), still the creator's.
    creator.close();
    await waitFor(() => inside(server).registry.sessions.size === 2, 5000, 'the creator gone');
    const back = await pool.ready('cong', portOf(server, 'cong'), { localAddress: '127.0.2.1' });
    assert.equal(await subscribeStatus(back, 1, 'fresh'), STATUS.ERROR, 'the address still holds its share after reconnecting');
    // Once the channels are gone, the share is back.
    joiner.close();
    await waitFor(() => server.metrics().channels === 0, 5000, 'the channels gone');
    assert.equal(await subscribeStatus(back, 2, 'fresh'), STATUS.OK, 'the share came back with the channels');
  });
});

describe('per-address shares of the retained store', () => {
  let server: IosigServer;
  const pool = new ClientPool();
  /** Shares: 10 000 bytes and 100 entries per owner. */
  const BYTES = 100_000;

  before(async () => {
    server = await startServer({ auth: { param: PARAM }, authFailDelay: 20, maxRetainedBytes: BYTES });
  });
  afterEach(() => pool.closeAll());
  after(() => server.close());

  const publishRetained = async (c: RawClient, prefix: string, count: number, size: number): Promise<void> => {
    for (let i = 0; i < count; i++) c.send(encodeSignal(`${prefix}$${i}`, PAYLOAD.BINARY, Buffer.alloc(size, 0x41)));
    await c.sync();
  };

  it('one address keeps at most its share of retained bytes and entries; other addresses and devices keep theirs', async () => {
    const before = server.metrics().refusedRetainedShare;
    const big = await Promise.all([0, 1, 2].map(() => pool.ready('cong', portOf(server, 'cong'), { localAddress: '127.0.3.1' })));
    // Values of 990 bytes are signals of just under 1000 bytes: 10 of them fit a 10 000-byte share.
    for (const [i, c] of big.entries()) await publishRetained(c, `big${i}`, 20, 990);
    const kept = [...inside(server).router.retained.keys()].filter((k) => k.startsWith('CH:big'));
    assert.equal(kept.length, 10, 'bytes: 10 values of about 1000 bytes, across its connections');
    assert.ok(server.metrics().retainedBytes <= BYTES / 10);
    const tiny = await Promise.all([0, 1, 2].map(() => pool.ready('ws', portOf(server, 'ws'), { localAddress: '127.0.3.3' })));
    for (const [i, c] of tiny.entries()) await publishRetained(c, `tiny${i}`, 100, 1);
    assert.equal(inside(server).router.retained.size, 10 + 100, 'entries: at most 100 retained channels per address');
    assert.equal(server.metrics().refusedRetainedShare - before, 50 + 200, 'every refusal counted');
    big[0]!.send(encodeSignal('@$mine', PAYLOAD.BINARY, Buffer.alloc(1000)));
    await big[0]!.sync();
    assert.equal(server.metrics().refusedRetainedShare - before, 50 + 200 + 1, 'a CID-retained value past the bytes share is refused too');

    const other = await pool.ready('ws', portOf(server, 'ws'), { localAddress: '127.0.3.2' });
    await publishRetained(other, 'other', 5, 1000);
    const dev = await device(pool, server, 'dev1', '127.0.3.1');
    dev.wire.send(encodeSignal('devroom$temp', PAYLOAD.BINARY, Buffer.alloc(1000)));
    await dev.sync();
    for (const key of ['CH:other$4', 'CH:devroom$temp']) assert.ok(inside(server).router.retained.has(key), `${key} is kept`);

    // A value replaced by another writer moves its charge: the first address gets the room back.
    await publishRetained(other, 'big0', 1, 10);
    await publishRetained(big[1]!, 'again', 1, 990);
    assert.ok(inside(server).router.retained.has('CH:again$0'), 'the share freed by the replacement is usable again');
  });
});
