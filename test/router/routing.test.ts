// Routing rules of docs/protocol.md §5 (and the §1.3/§3 behaviour around them) against a real iosig server, over
// real sockets (WebSocket only, CongSocket only, mixed both ways) and over the in-memory link (alone and mixed
// with sockets).
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MSG, PAYLOAD } from '../../src/protocol/codes.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import { ClientPool, type RawClient, type Transport } from '../kit/raw-client.js';
import type { WireTarget } from '../kit/wire.js';
import { waitFor } from '../kit/wait.js';
import { ManualClock } from '../kit/manual-clock.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { inside } from '../kit/inside.js';
import { ANON_CID, CID_REQ, IAM, PING, PONG, assertQuiet, b, closeNotice, empty, expectMsg, hex, iam, sub, subReq, text, unsub } from '../kit/messages.js';

interface Mode {
  name: string;
  /** Transport of the i-th client of a test (A = 0 publishes, B = 1 subscribes, ...). */
  kind: (i: number) => Transport;
  /** Where the i-th client connects: the server's port for its transport, or its in-memory link. */
  at: (server: IosigServer, i: number) => WireTarget;
  /** Some clients are in memory: transport details (raw frames, control frames, close codes) do not apply. */
  memory: boolean;
}

const socket = (kind: (i: number) => Transport): Mode['at'] => (server, i) => portOf(server, kind(i));
const inMemory: Mode['at'] = (server) => ({ memory: server });
const wsThenCong = (i: number): Transport => (i % 2 === 0 ? 'ws' : 'cong');
const congThenWs = (i: number): Transport => (i % 2 === 0 ? 'cong' : 'ws');

/**
 * The same rules over real sockets and over the in-memory link (the connection state machine, router and
 * delivery groups without sockets), each transport alone and mixed, and memory mixed with sockets.
 */
const MODES: Mode[] = [
  { name: 'ws', kind: () => 'ws', at: socket(() => 'ws'), memory: false },
  { name: 'cong', kind: () => 'cong', at: socket(() => 'cong'), memory: false },
  { name: 'mixed ws→cong', kind: wsThenCong, at: socket(wsThenCong), memory: false },
  { name: 'mixed cong→ws', kind: congThenWs, at: socket(congThenWs), memory: false },
  { name: 'in-memory ws', kind: () => 'ws', at: inMemory, memory: true },
  { name: 'in-memory cong', kind: () => 'cong', at: inMemory, memory: true },
  { name: 'in-memory mixed ws→cong', kind: wsThenCong, at: inMemory, memory: true },
  {
    name: 'mixed in-memory ws→cong socket',
    kind: wsThenCong,
    at: (server, i) => (i % 2 === 0 ? { memory: server } : portOf(server, 'cong')),
    memory: true,
  },
];

/** RESPONSE_MBP(status, mid) without body, as the reference packs it (§7.2). */
function responseMbp(status: number, mid: number): Buffer {
  const meta = Buffer.from('[["status","8",1,1],["mid","16",2,2]]');
  return Buffer.concat([Buffer.from([MSG.RESPONSE_MBP, status, mid >> 8, mid & 0xff]), meta, Buffer.from([0, meta.length])]);
}

const T = { timeout: 15_000 };

for (const [modeIndex, mode] of MODES.entries()) {
  describe(`routing §5 over ${mode.name}`, () => {
    let server: IosigServer;
    const pool = new ClientPool();
    /** Unique names per suite, so retained entries never leak between tests. */
    const u = (name: string): string => `${name}-${modeIndex}`;

    /** Client number i, connected and with its anonymous cid. */
    const client = (i: number, srv: IosigServer = server): Promise<RawClient> =>
      pool.ready(mode.kind(i), mode.at(srv, i));
    const clients = async (n: number, srv: IosigServer = server): Promise<RawClient[]> => {
      const out: RawClient[] = [];
      for (let i = 0; i < n; i++) out.push(await client(i, srv));
      return out;
    };

    before(async () => {
      server = await startServer();
    });
    afterEach(async () => {
      const problems = pool.problems();
      await pool.closeAll();
      assert.deepEqual(problems, [], 'server output framing (§1.1 binary frames only, §1.2 minimal headers, no empty frames)');
    });
    after(async () => {
      await pool.closeAll();
      await server.close();
    });

    it('opening sequence: SERVER_TIME_NONCE then SERVER_READY, anonymous cid, repeated CID_REQ (§3.2, §3.3)', T, async () => {
      const a = await pool.open(mode.kind(0), mode.at(server, 0));
      const nonce = await a.next();
      assert.equal(nonce.length, 13);
      assert.equal(nonce[0], MSG.SERVER_TIME_NONCE);
      const unix = nonce.readUInt32LE(1);
      assert.ok(Math.abs(unix - Date.now() / 1000) < 10, `nonce unixTime ${unix} is near now`);
      assert.ok(nonce.readUInt16LE(5) < 1000, 'milTime < 1000');
      assert.equal(hex(await a.next()), 'c0');
      a.send(CID_REQ);
      const res = await a.next();
      assert.equal(res[0], MSG.CID_RES);
      const cid = res.subarray(1).toString('utf8');
      assert.match(cid, ANON_CID);
      a.send(CID_REQ);
      assert.equal(hex(await a.next()), hex(res), 'repeated CID_REQ returns the same cid');
      a.send(b('c1 00 ff'));
      assert.equal(hex(await a.next()), hex(res), 'CID_REQ trailing bytes are ignored');
    });

    it('anonymous cids are "?" + 4 base64url chars and distinct (§3.3, Q22)', T, async () => {
      const cs = await clients(8);
      const cids = cs.map((c) => c.cid);
      for (const cid of cids) assert.match(cid, ANON_CID);
      assert.equal(new Set(cids).size, cids.length, `cids are distinct: ${cids.join(' ')}`);
    });

    it('channel multicast reaches every subscriber including the sender, in both directions (§5.4)', T, async () => {
      const [a, bb, c] = await clients(3);
      const ch = u('ch');
      a!.send(sub(ch));
      a!.send(sub(`${ch},${ch}`)); // subscribing twice is harmless: one delivery
      bb!.send(sub(`${ch},${u('other')}`));
      await a!.sync();
      await bb!.sync();
      const m1 = text(ch, 'hello');
      bb!.send(m1);
      await expectMsg(a!, m1, 'delivery to subscriber');
      await expectMsg(bb!, m1, 'self delivery to the publisher');
      const m2 = encodeSignal(ch, PAYLOAD.OBJECT, Buffer.from('{"x":1}'));
      a!.send(m2);
      await expectMsg(bb!, m2, 'delivery back');
      await expectMsg(a!, m2, 'self delivery');
      await assertQuiet(c!, a!, bb!);
      // A closed subscriber leaves every subscriber set (§5.8 step 3).
      const watch = `${a!.cid}@state`;
      c!.send(sub(watch));
      await c!.sync();
      await a!.close();
      await expectMsg(c!, closeNotice(a!.cid, '@state'), 'close notice (barrier)');
      const chInfo = server.channelList().find((x) => x.key === `CH:${ch}`);
      assert.equal(chInfo?.subscribers, 1, 'channelList() after the subscriber left');
      const m3 = text(ch, 'after');
      bb!.send(m3);
      await expectMsg(bb!, m3, 'self delivery');
      await assertQuiet(bb!, c!);
    });

    it('every payload type is relayed byte for byte (§5.2: the server never looks at payloads)', T, async () => {
      const [a, bb] = await clients(2);
      const ch = u('types');
      bb!.send(sub(ch));
      await bb!.sync();
      const payloads: [number, string][] = [
        [PAYLOAD.EMPTY, ''],
        [PAYLOAD.TEXT, '68656c6c6f00'],
        [PAYLOAD.BINARY, '010203'],
        [PAYLOAD.OBJECT, '7b2278223a317d'],
        [PAYLOAD.MJSON, '5b2261222c322c7b2262223a747275657d5d'],
        [PAYLOAD.MBA, '78ff5b5b302c2253222c302c315d2c5b312c2242222c312c315d5d0019'],
        [0x7f, 'ffff00'],
      ];
      for (const [type, payload] of payloads) {
        const m = encodeSignal(ch, type, b(payload));
        a!.send(m);
        await expectMsg(bb!, m, `payload type ${type}`);
      }
      const big = encodeSignal(ch, PAYLOAD.BINARY, Buffer.alloc(70_000, 0x5a));
      a!.send(big);
      await expectMsg(bb!, big, '70 000-byte payload');
      await assertQuiet(a!, bb!);
    });

    it('a publish is never split on "," (§5.4)', T, async () => {
      const [a, bb] = await clients(2);
      bb!.send(sub(`${u('p1')},${u('p2')}`));
      await bb!.sync();
      a!.send(text(`${u('p1')},${u('p2')}`, 'x'));
      await a!.sync();
      await assertQuiet(bb!);
    });

    it('comma multi-subscribe subscribes every element, including the empty one (§5.5)', T, async () => {
      const [a, bb] = await clients(2);
      const x1 = u('x1');
      const x2 = u('x2');
      a!.send(sub(`${x1},,${x2}`));
      const info = await iam(a!);
      assert.deepEqual(info.tag, [`CH:${x1}`, 'CH:', `CH:${x2}`]);
      for (const tag of [x1, '', x2]) {
        const m = text(tag, `to ${tag}`);
        bb!.send(m);
        await expectMsg(a!, m, `delivery on "${tag}"`);
      }
      const d = b('d00000'); // SIGNAL, empty tag, EMPTY payload: CH:
      bb!.send(d);
      await expectMsg(a!, d, 'SIGNAL with an empty tag reaches CH:');
      await assertQuiet(a!, bb!);
    });

    it('SUBSCRIBE needs length ≥ 3 and exactly tagLen + 2 (§5.5)', T, async () => {
      const [a, bb] = await clients(2);
      const abc = Buffer.from(u('abc'));
      const n = abc.length;
      const bad = [
        Buffer.concat([b('d3'), Buffer.from([n + 2]), abc]), // tagLen past the end
        Buffer.concat([b('d3'), Buffer.from([n]), abc, b('78')]), // one trailing byte
        Buffer.concat([b('d3'), Buffer.from([n - 1]), abc]), // tagLen short
        b('d30041'), // tagLen 0 with a byte after it
        b('d3'),
        b('d300'),
      ];
      for (const m of bad) a!.send(m);
      const info = await iam(a!);
      assert.deepEqual(info.tag, [], 'no malformed SUBSCRIBE registered anything');
      bb!.send(text(u('abc'), 'x'));
      await bb!.sync();
      await assertQuiet(a!);
    });

    it('SUBSCRIBE_REQ answers RESPONSE_MBP status 0 with the mid, or 255 on a bad length (§5.5)', T, async () => {
      const [a, bb] = await clients(2);
      const tags = `${u('r9')},${u('r10')}`;
      a!.send(subReq(7, tags));
      await expectMsg(a!, responseMbp(0, 7), 'SUBSCRIBE_REQ ok');
      // The exact reference bytes (transcripts_inprocess subscribe_req seq 9 / 13).
      assert.equal(hex(responseMbp(0, 7)), 'dd0000075b5b22737461747573222c2238222c312c315d2c5b226d6964222c223136222c322c325d5d0025');
      const m = text(u('r10'), 'x');
      bb!.send(m);
      await expectMsg(a!, m, 'delivery after SUBSCRIBE_REQ');

      const good = subReq(258, u('never'));
      const badLen = Buffer.from(good);
      badLen.writeUInt16BE(good.length - 5 + 1, 3);
      a!.send(badLen);
      await expectMsg(a!, responseMbp(255, 258), 'SUBSCRIBE_REQ with a bad length');
      a!.send(b('d4 00 01 00 00')); // 5 bytes: ignored, no reply
      const info = await iam(a!);
      assert.deepEqual(info.tag, [`CH:${u('r9')}`, `CH:${u('r10')}`]);
      bb!.send(text(u('never'), 'x'));
      await bb!.sync();
      await assertQuiet(a!);
    });

    it('SUBSCRIBE_REQ delivers retained signals before its RESPONSE_MBP (§5.5, §5.6)', T, async () => {
      const [a, bb] = await clients(2);
      const tag = u('rr$');
      a!.send(text(tag, 'kept'));
      await a!.sync();
      bb!.send(subReq(0x1234, tag));
      await expectMsg(bb!, text(tag, 'kept'), 'retained signal');
      await expectMsg(bb!, responseMbp(0, 0x1234), 'RESPONSE_MBP after the retained signal');
    });

    it('UNSUBSCRIBE one tag, a list, all (d5 00 or any 2 bytes); bare d5 and bad lengths ignored (§5.5)', T, async () => {
      const [a, bb] = await clients(2);
      const [ta, tb, tc, td] = ['ua', 'ub', 'uc', 'ud'].map(u) as [string, string, string, string];
      a!.send(sub(`${ta},${tb},${tc},${td}`));
      assert.deepEqual((await iam(a!)).tag, [ta, tb, tc, td].map((t) => `CH:${t}`));

      a!.send(unsub(ta));
      assert.deepEqual((await iam(a!)).tag, [tb, tc, td].map((t) => `CH:${t}`));
      bb!.send(text(ta, '1'));
      await bb!.sync();
      await assertQuiet(a!);
      const mb = text(tb, '2');
      bb!.send(mb);
      await expectMsg(a!, mb, 'still subscribed to the others');

      a!.send(unsub(`${tb},${tc}`));
      assert.deepEqual((await iam(a!)).tag, [`CH:${td}`]);

      a!.send(b('d5'));
      const wrong = unsub(td);
      wrong[1] = wrong[1]! + 1;
      a!.send(wrong);
      assert.deepEqual((await iam(a!)).tag, [`CH:${td}`], 'bare d5 and a wrong tagLen are ignored');

      a!.send(b('d500'));
      assert.deepEqual((await iam(a!)).tag, [], 'd5 00 leaves every channel');
      bb!.send(text(td, '3'));
      await bb!.sync();
      await assertQuiet(a!);

      a!.send(sub(`${ta},${tb}`));
      a!.send(b('d507'));
      assert.deepEqual((await iam(a!)).tag, [], 'any 2-byte UNSUBSCRIBE leaves every channel');
    });

    it('unicast cid@topic is delivered as @topic; cid@a@b as @a; to self; to an offline cid nothing (§5.3, §5.4)', T, async () => {
      const [a, bb, c] = await clients(3);
      a!.send(text(`${bb!.cid}@hello`, 'hi B'));
      await expectMsg(bb!, text('@hello', 'hi B'), 'unicast');
      a!.send(text(`${bb!.cid}@a@b`, 'two ats'));
      await expectMsg(bb!, text('@a', 'two ats'), 'only the first topic segment');
      a!.send(text(`${bb!.cid}@`, 'empty topic'));
      await expectMsg(bb!, text('@', 'empty topic'), 'cid@ is delivered as @');
      a!.send(text(`${a!.cid}@self`, 'me'));
      await expectMsg(a!, text('@self', 'me'), 'unicast to self');
      const offline = ['?zzzz', '?yyyy'].find((x) => ![a, bb, c].some((k) => k!.cid === x))!;
      a!.send(text(`${offline}@hello`, 'nobody'));
      await a!.sync();
      await assertQuiet(a!, bb!, c!);
      // A cid that went offline is no longer a unicast target (§5.8 step 5).
      const cidC = c!.cid;
      bb!.send(sub(`${cidC}@state`));
      await bb!.sync();
      const online = server.metrics().onlineCids;
      await c!.close();
      await expectMsg(bb!, closeNotice(cidC, '@state'), 'close notice (barrier)');
      assert.equal(server.metrics().onlineCids, online - 1, 'metrics().onlineCids after the close');
      a!.send(text(`${cidC}@hello`, 'gone'));
      await a!.sync();
      await assertQuiet(bb!);
    });

    it('CID publish @topic reaches subscribers of cid@topic with tag <cid>@topic, the publisher too (§5.4)', T, async () => {
      const [a, bb, c] = await clients(3);
      bb!.send(sub(`${a!.cid}@temp`));
      await bb!.sync();
      a!.send(text('@temp', '21.5'));
      await expectMsg(bb!, text(`${a!.cid}@temp`, '21.5'), 'CID publish');
      await assertQuiet(a!, c!);
      a!.send(sub(`${a!.cid}@temp`));
      a!.send(text('@temp', '22'));
      await expectMsg(a!, text(`${a!.cid}@temp`, '22'), 'publisher subscribed to its own CID channel');
      await expectMsg(bb!, text(`${a!.cid}@temp`, '22'), 'subscriber');
      const info = await iam(bb!);
      assert.deepEqual(info.tag, [`CID:${a!.cid}@temp`]);
    });

    it('a CID publish before CID_REQ uses the empty cid: tag @topic, key CID:@topic (§5.4, Q34)', T, async () => {
      const watcher = await client(1);
      const early = await pool.open(mode.kind(0), mode.at(server, 0));
      await early.next(); // SERVER_TIME_NONCE
      await early.next(); // SERVER_READY
      watcher.send(sub(u('@pre')));
      await watcher.sync();
      const m = text(u('@pre'), 'early');
      early.send(m);
      await expectMsg(watcher, m, 'delivery of @topic from a connection with no cid');
    });

    it('home channel #topic: loopback clients share PRIVATE:, X-Forwarded-For gives IP:<hex> (§5.7, Q28)', T, async () => {
      const [a, bb, c] = await clients(3);
      const room = `#${u('room')}`;
      a!.send(sub(room));
      bb!.send(sub(room));
      await a!.sync();
      await bb!.sync();
      const local = text(room, 'local');
      c!.send(local);
      await expectMsg(a!, local, 'home channel, tag unchanged');
      await expectMsg(bb!, local, 'home channel, tag unchanged');
      await assertQuiet(c!);
      const infoA = await iam(a!);
      assert.equal(infoA.ip, '127.0.0.1');
      assert.deepEqual(infoA.tag, [`PRIVATE:${room}`]);
      // '#h@t' is a home channel when subscribing but a unicast to cid '#h' when publishing (Q34).
      c!.send(sub('#h@t'));
      assert.deepEqual((await iam(c!)).tag, ['PRIVATE:#h@t']);
      c!.send(text('#h@t', 'x'));
      await c!.sync();
      await assertQuiet(c!);
      c!.send(unsub('#h@t'));
      assert.deepEqual((await iam(c!)).tag, [], 'UNSUBSCRIBE maps #tags to the home key too');

      const xff = { headers: { 'X-Forwarded-For': '203.0.113.7' } };
      const w = await pool.ready('ws', portOf(server, 'ws'), xff);
      const w2 = await pool.ready('ws', portOf(server, 'ws'), xff);
      w.send(sub(room));
      const infoW = await iam(w);
      assert.equal(infoW.ip, '203.0.113.7');
      assert.deepEqual(infoW.tag, [`IP:cb007107${room}`]);
      c!.send(text(room, 'private only'));
      await expectMsg(a!, text(room, 'private only'));
      await expectMsg(bb!, text(room, 'private only'));
      await assertQuiet(w);
      const pub = text(room, 'public');
      w2.send(pub);
      await expectMsg(w, pub, 'same public IP shares the home channel');
      await assertQuiet(a!, bb!, w2);

      // Issue 9 item 8 (overrides Q28's "first entry"): the list is read from the right, the first address that
      // is not a trusted proxy is the client; what the client wrote further left is ignored.
      const multi = await pool.ready('ws', portOf(server, 'ws'), { headers: { 'X-Forwarded-For': '10.0.0.1, 8.8.4.4' } });
      multi.send(sub('#t'));
      const infoM = await iam(multi);
      assert.deepEqual(infoM.tag, ['IP:08080404#t'], 'the rightmost untrusted X-Forwarded-For entry is the client');
      assert.equal(infoM.ip, '8.8.4.4');
    });

    it('X-Forwarded-For from an untrusted peer is ignored (trustedProxies, Q28)', T, async () => {
      const strict = await startServer({ trustedProxies: [] });
      try {
        const w = await pool.ready('ws', portOf(strict, 'ws'), { headers: { 'X-Forwarded-For': '203.0.113.7' } });
        w.send(sub('#t'));
        const info = await iam(w);
        assert.equal(info.ip, '127.0.0.1');
        assert.deepEqual(info.tag, ['PRIVATE:#t']);
      } finally {
        await pool.closeAll();
        await strict.close();
      }
    });

    it('retained channel signals: stored without subscribers, delivered on subscribe, replaced by newer (§5.6)', T, async () => {
      const [a, bb, c] = await clients(3);
      const tag = u('news$today');
      a!.send(text(tag, 'v1'));
      await a!.sync();
      bb!.send(sub(tag));
      await expectMsg(bb!, text(tag, 'v1'), 'retained value on subscribe');
      a!.send(text(tag, 'v2'));
      await expectMsg(bb!, text(tag, 'v2'), 'live update');
      c!.send(sub(tag));
      await expectMsg(c!, text(tag, 'v2'), 'newest retained value');
      await assertQuiet(a!, bb!, c!);
      // A home channel with $ is retained under its home key.
      const home = `#${u('room$')}`;
      a!.send(text(home, 'h1'));
      await a!.sync();
      bb!.send(sub(home));
      await expectMsg(bb!, text(home, 'h1'), 'retained home channel');
    });

    it('retained store full: existing keys still update, new keys are not stored (Q24 fix)', T, async () => {
      // The store's own cap: one client address, so no per-address share and no reserve (cap-shares.test.ts).
      const small = await startServer({ retain: { limitCounter: 2 }, capShares: { share: 1, reserve: 0 } });
      try {
        const [a, bb] = await clients(2, small);
        a!.send(text('k1$', 'v1'));
        a!.send(text('k2$', 'v1'));
        a!.send(text('k1$', 'v2'));
        a!.send(text('k3$', 'v1'));
        await a!.sync();
        bb!.send(sub('k1$'));
        await expectMsg(bb!, text('k1$', 'v2'), 'updated although the store is full');
        bb!.send(sub('k2$'));
        await expectMsg(bb!, text('k2$', 'v1'));
        bb!.send(sub('k3$'));
        await assertQuiet(bb!);
      } finally {
        await pool.closeAll();
        await small.close();
      }
    });

    it('retained messages must be strictly smaller than retain.limitSize (§5.6)', T, async () => {
      const small = await startServer({ retain: { limitSize: 20 } });
      try {
        const [a, bb] = await clients(2, small);
        const fits = text('s$', 'x'.repeat(19 - 6)); // 2+2+1 + 13 + 1 = 19 bytes
        const tooBig = text('t$', 'x'.repeat(20 - 6)); // 20 bytes
        assert.equal(fits.length, 19);
        assert.equal(tooBig.length, 20);
        a!.send(fits);
        a!.send(tooBig);
        await a!.sync();
        bb!.send(sub('s$'));
        await expectMsg(bb!, fits);
        bb!.send(sub('t$'));
        await assertQuiet(bb!);
      } finally {
        await pool.closeAll();
        await small.close();
      }
    });

    it('CID-retained @$x: delivered to later subscribers of cid@$x, gone after the publisher leaves (§5.6, Q25)', T, async () => {
      const [a, bb, c, d] = await clients(4);
      a!.send(text('@$x', 'on'));
      await a!.sync();
      bb!.send(sub(`${a!.cid}@$x`));
      await expectMsg(bb!, text(`${a!.cid}@$x`, 'on'), 'retained CID signal on subscribe');
      a!.send(text('@$x', 'off'));
      await expectMsg(bb!, text(`${a!.cid}@$x`, 'off'), 'live update');
      c!.send(sub(`${a!.cid}@$x`));
      await expectMsg(c!, text(`${a!.cid}@$x`, 'off'), 'newest CID-retained value');
      d!.send(sub('?nope@$x'));
      await assertQuiet(d!);
      assert.deepEqual((await iam(d!)).tag, ['CID:?nope@$x'], 'subscription to an offline cid stays');

      const cidA = a!.cid;
      c!.send(sub(`${cidA}@state`));
      await c!.sync();
      await a!.close();
      await expectMsg(c!, closeNotice(cidA, '@state'), 'close notice (used as a barrier)');
      d!.send(sub(`${cidA}@$x`));
      await assertQuiet(d!, bb!);
      // Q25: whatever iosig does with CID:<cid>@$x on close, IAM_RES and channelList() must agree.
      const key = `CID:${cidA}@$x`;
      const listedForB = (await iam(bb!)).tag.includes(key);
      const listedForC = (await iam(c!)).tag.includes(key);
      const listedForD = (await iam(d!)).tag.includes(key);
      assert.equal(listedForD, true, 'D subscribed after the close');
      const channel = server.channelList().find((x) => x.key === key);
      const listed = [listedForB, listedForC, listedForD].filter(Boolean).length;
      assert.equal(channel?.subscribers ?? 0, listed, `subscribers of ${key} in channelList() vs IAM_RES tag lists (B ${listedForB}, C ${listedForC}, D ${listedForD})`);
    });

    it('publishing a tag that starts with $ is refused; nothing is delivered or retained (§5.3)', T, async () => {
      const [a, bb, c] = await clients(3);
      const tag = `$${u('res')}`;
      bb!.send(sub(tag));
      await bb!.sync();
      a!.send(text(tag, 'refused'));
      await a!.sync();
      await assertQuiet(bb!, a!);
      c!.send(sub(tag));
      await assertQuiet(c!);
      assert.deepEqual((await iam(bb!)).tag, [`CH:${tag}`], 'subscribing to a $ tag is allowed');
    });

    it('close notices @state and @$state go to subscribers of cid@state / cid@$state (§5.8)', T, async () => {
      const [a, bb, c] = await clients(3);
      const cidA = a!.cid;
      bb!.send(sub(`${cidA}@state,${cidA}@$state`));
      await bb!.sync();
      await a!.close();
      await expectMsg(bb!, closeNotice(cidA, '@state'), '@state close notice');
      await expectMsg(bb!, closeNotice(cidA, '@$state'), '@$state close notice');
      assert.equal(hex(closeNotice(cidA, '@state')).slice(-12), '636c6f736500');
      // CLOSE with a reason: same notices.
      const cidC = c!.cid;
      bb!.send(sub(`${cidC}@state`));
      await bb!.sync();
      c!.send(b('cf627965'));
      await c!.waitClosed(2000);
      await expectMsg(bb!, closeNotice(cidC, '@state'), 'notice after CLOSE with a reason');
      await assertQuiet(bb!);
    });

    it('IAM / IAM_RES: JSON keys in order, cid before and after CID_REQ, nick length rules (§3.8)', T, async () => {
      const x = await pool.open(mode.kind(0), mode.at(server, 0));
      await x.next();
      await x.next();
      const before0 = await iam(x);
      assert.equal(before0.cid, '', 'cid is "" before CID_REQ');
      x.send(CID_REQ);
      const cid = (await x.next()).subarray(1).toString();
      const info = await iam(x);
      assert.deepEqual(
        { ...info, ssid: 0 },
        { ssid: 0, cid, did: '', uid: '', level: 3, nick: '', ip: '127.0.0.1', tag: [] },
      );
      assert.equal(info.ssid, before0.ssid);
      assert.ok(info.ssid >= 1);
      assert.equal((await iam(x, 'nick-A')).nick, 'nick-A');
      assert.equal((await iam(x, 'n'.repeat(29))).nick, 'nick-A', 'IAM of 30 bytes: nick ignored, reply still sent');
      assert.equal((await iam(x)).nick, 'nick-A', 'bare IAM keeps the nick');
      assert.equal((await iam(x, 'm'.repeat(28))).nick, 'm'.repeat(28), 'IAM of 29 bytes sets the nick');
      const y = await client(1);
      const infoY = await iam(y);
      assert.ok(infoY.ssid > info.ssid, 'ssid grows per connection');
      // The exact bytes for a known state (transcripts_inprocess iam_echo_ping seq 5, ssid masked).
      y.send(IAM);
      const raw = (await y.next()).subarray(1).toString();
      assert.equal(
        raw,
        `{"ssid":${infoY.ssid},"cid":"${y.cid}","did":"","uid":"","level":3,"nick":"","ip":"127.0.0.1","tag":[]}`,
      );
    });

    it('ECHO below 30 bytes is echoed unchanged, 30 bytes and more is not (§3.9)', T, async () => {
      const [a] = await clients(1);
      for (const m of [b('cc'), b('cc616263'), Buffer.concat([b('cc'), Buffer.alloc(28, 0x65)])]) {
        assert.ok(m.length < 30);
        a!.send(m);
        await expectMsg(a!, m, `ECHO of ${m.length} bytes`);
      }
      a!.send(Buffer.concat([b('cc'), Buffer.alloc(29, 0x65)]));
      a!.send(Buffer.concat([b('cc'), Buffer.alloc(300, 0x65)]));
      await assertQuiet(a!);
    });

    it('PING gets PONG [ce] on cong, a pong (frame, or [ce] per Q32) on ws; PONG gets nothing (§1.3)', T, async () => {
      const [a] = await clients(1);
      a!.send(PING);
      const evs = await a!.syncEvents();
      const seen = evs.map((e) => (e.kind === 'msg' ? hex(e.data) : e.kind));
      if (a!.kind === 'cong') assert.deepEqual(seen, ['ce']);
      else assert.ok(seen.length === 1 && (seen[0] === 'pong' || seen[0] === 'ce'), `ws PING answer: ${seen.join(',')}`);
      a!.send(PONG);
      await assertQuiet(a!);
    });

    it('keepalive sweep closes a silent client at the second period and keeps answering ones (§1.3)', T, async () => {
      // The sweep runs on a manual clock: every period is one advance(), checked at that instant.
      const clock = new ManualClock();
      const fast = await startServer({ timeout: 10, clock });
      try {
        assert.equal(inside(fast).options.timeout, 1000, 'a timeout below 1000 ms is clamped (Q17)');
        const silentKind = mode.kind(0);
        const silent = await pool.open(silentKind, mode.at(fast, 0), { autoPong: false });
        const alive = await pool.open(mode.kind(1), mode.at(fast, 1), { autoPong: true });
        // Any incoming message marks a connection alive: a ws text frame, or a PING message.
        const texter = await pool.open('ws', portOf(fast, 'ws'), { autoPong: false });
        const pinger = await pool.open(silentKind, mode.at(fast, 0), { autoPong: false });
        for (const c of [silent, alive, texter, pinger]) await c.handshake();
        alive.send(sub(`${silent.cid}@state`));
        await alive.sync();
        const conn = (c: RawClient) => {
          const found = inside(fast).router.cids.get(c.cid);
          assert.ok(found, `server side of ${c.cid}`);
          return found;
        };
        /** Traffic between two sweeps: probes answered, a text frame, a PING; each seen by the server. */
        const keepTalking = async (): Promise<void> => {
          texter.sendText('still here');
          pinger.send(PING);
          for (const c of [alive, texter, pinger]) await waitFor(() => conn(c).alive, 2000, `traffic from ${c.cid} seen`);
        };
        // Period 1: everyone spoke since the start; the sweep clears the marks and probes.
        clock.advance(999);
        assert.equal(conn(silent).alive, true, 'no sweep before the period');
        clock.advance(1);
        assert.equal(fast.metrics().timeouts, 0, 'nobody is closed at the first sweep');
        if (silentKind === 'ws') {
          await waitFor(() => silent.pings >= 1, 2000, 'a ping frame on the silent ws client');
        } else {
          assert.equal(hex(await silent.next(2000)), 'cd', 'the silent cong client gets PING [cd]');
        }
        await keepTalking();
        assert.equal(conn(silent).alive, false, 'the silent client stays unmarked');
        // Period 2: the silent client is closed at this very sweep; the others stay.
        clock.advance(1000);
        assert.equal(fast.metrics().timeouts, 1, 'metrics().timeouts counts the sweep close');
        await silent.waitClosed(2000);
        await expectMsg(alive, closeNotice(silent.cid, '@state'), 'close notice for a keepalive close (§5.8)');
        // Period 3: still answering, still open.
        await keepTalking();
        clock.advance(1000);
        await keepTalking();
        assert.equal(fast.metrics().timeouts, 1, 'no other close');
        assert.equal(alive.closed, false, 'a client that answers pings stays open');
        assert.ok(alive.pings >= 3, `alive client was probed at every sweep (${alive.pings})`);
        assert.equal(texter.closed, false, 'ws text frames keep a connection alive (§1.1, §1.3)');
        assert.equal(pinger.closed, false, 'PING messages keep a connection alive (§1.3)');
      } finally {
        await pool.closeAll();
        await fast.close();
      }
    });

    it('CLOSE with a reason closes the connection, a bare CLOSE [cf] is ignored (§3.7, Q8)', T, async () => {
      const [a, bb] = await clients(2);
      a!.send(b('cf'));
      await assertQuiet(a!);
      assert.equal(a!.closed, false);
      a!.send(b('cf627965'));
      await a!.waitClosed(2000);
      bb!.send(b('cffe'));
      await bb!.waitClosed(2000);
    });

    it('SERVER_SIGNAL from server.signal() reaches every connection (§3.10)', T, async () => {
      const [a, bb] = await clients(2);
      const raw = await pool.open(mode.kind(2), mode.at(server, 2));
      await raw.next();
      await raw.next();
      await raw.sync();
      server.signal('notice', { msg: 'maintenance' });
      const expected = b('d67b226576656e74223a226e6f74696365222c2264617461223a7b226d7367223a226d61696e74656e616e6365227d7d');
      await expectMsg(a!, expected, 'SERVER_SIGNAL');
      await expectMsg(bb!, expected, 'SERVER_SIGNAL');
      await expectMsg(raw, expected, 'SERVER_SIGNAL before CID_REQ');
    });

    it('Q27: a retagged CID publish over 255 tag bytes is dropped; exactly 255 is delivered', T, async () => {
      const [a, bb] = await clients(2);
      const cidA = a!.cid;
      const longTopic = '@' + 'x'.repeat(255 - cidA.length); // retag: cid + topic = 256 bytes
      assert.equal(Buffer.byteLength(cidA + longTopic), 256);
      bb!.send(subReq(9, cidA + longTopic)); // SUBSCRIBE_REQ has a u16 tag length
      await expectMsg(bb!, responseMbp(0, 9), 'SUBSCRIBE_REQ of a 256-byte tag');
      a!.send(text(longTopic, 'too long'));
      await a!.sync();
      await assertQuiet(bb!, a!);

      const okTopic = '@' + 'y'.repeat(254 - cidA.length); // cid + topic = 255 bytes
      bb!.send(sub(cidA + okTopic));
      await bb!.sync();
      a!.send(text(okTopic, 'fits'));
      const got = await bb!.next(2000);
      assert.equal(got[1], 255);
      assert.equal(hex(got), hex(text(cidA + okTopic, 'fits')));
    });

    it('Q1: a SIGNAL of length tagLen + 2 (no payloadType) is not routed; tagLen + 3 is', T, async () => {
      const [a, bb] = await clients(2);
      const tag = Buffer.from(u('q1'));
      bb!.send(sub(u('q1')));
      await bb!.sync();
      a!.send(Buffer.concat([Buffer.from([MSG.SIGNAL, tag.length]), tag]));
      await a!.sync();
      await assertQuiet(bb!);
      const ok = Buffer.concat([Buffer.from([MSG.SIGNAL, tag.length]), tag, b('00')]);
      a!.send(ok);
      await expectMsg(bb!, ok, 'SIGNAL of tagLen + 3 bytes');
      assert.equal(hex(ok), hex(empty(u('q1'))));
    });
  });
}

describe('WebSocket transport details (§1.1)', () => {
  let server: IosigServer;
  const pool = new ClientPool();
  before(async () => {
    server = await startServer();
  });
  afterEach(async () => {
    const problems = pool.problems();
    await pool.closeAll();
    assert.deepEqual(problems, []);
  });
  after(async () => {
    await pool.closeAll();
    await server.close();
  });

  it('the upgrade is accepted on any path', T, async () => {
    for (const path of ['/', '/any/path', '/x?y=1']) {
      const c = await pool.ready('ws', portOf(server, 'ws'), { path });
      assert.match(c.cid, ANON_CID);
    }
  });

  it('a message fragmented over several WebSocket frames is joined first', T, async () => {
    const a = await pool.ready('ws', portOf(server, 'ws'));
    const r = await pool.ready('cong', portOf(server, 'cong'));
    r.send(sub('frag'));
    await r.sync();
    const m = text('frag', 'joined from three frames');
    await a.sendFragmented([m.subarray(0, 3), m.subarray(3, 10), m.subarray(10)]);
    await expectMsg(r, m, 'fragmented SIGNAL');
  });
});

// ---------------------------------------------------------------------------------------------
// Compatibility with the published iosignal 2.2.1 clients (used unmodified as real clients).

interface IoClient {
  cid: string;
  socket: unknown;
  on(event: string, fn: (...args: unknown[]) => void): unknown;
  off(event: string, fn: (...args: unknown[]) => void): unknown;
  signal(tag: string, ...args: unknown[]): void;
  subscribe(tag: string): void;
  subscribe_promise(tag: string): Promise<{ ok: boolean; status: number; mid: number }>;
  iam(title?: string): void;
  echo(data?: string): void;
  ping(): void;
  stop(): void;
}

interface IosignalModule {
  IO: new (url: string) => IoClient;
  IOCongSocket: new (url: string) => IoClient;
}

interface PongSource {
  once(event: 'pong', fn: () => void): unknown;
}

/** Resolves with the arguments of the next `event` on `c`, or rejects after `ms`. */
function nextEvent(c: IoClient, event: string, ms = 3000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const fn = (...args: unknown[]): void => {
      clearTimeout(timer);
      c.off(event, fn);
      resolve(args);
    };
    const timer = setTimeout(() => {
      c.off(event, fn);
      reject(new Error(`iosignal client: no "${event}" event within ${ms} ms`));
    }, ms);
    c.on(event, fn);
  });
}

/** Next raw message (socket_data) matching `pred`. */
function nextData(c: IoClient, pred: (buf: Buffer) => boolean, what: string, ms = 3000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const fn = (...args: unknown[]): void => {
      const buf = args[0];
      if (Buffer.isBuffer(buf) && pred(buf)) {
        clearTimeout(timer);
        c.off('socket_data', fn);
        resolve(buf);
      }
    };
    const timer = setTimeout(() => {
      c.off('socket_data', fn);
      reject(new Error(`iosignal client: no ${what} within ${ms} ms`));
    }, ms);
    c.on('socket_data', fn);
  });
}

/** Round trip: a bare ECHO [cc] comes back once everything sent before it was handled. */
async function barrier(c: IoClient): Promise<void> {
  const done = nextData(c, (buf) => buf.length === 1 && buf[0] === MSG.ECHO, 'ECHO barrier');
  c.echo();
  await done;
}

describe('compatibility with the iosignal 2.2.1 clients (IO over ws, IOCongSocket over cong)', () => {
  let server: IosigServer;
  let lib: IosignalModule;
  const open: IoClient[] = [];

  before(async () => {
    server = await startServer();
    lib = (await import('iosignal' as string)) as IosignalModule;
  });
  after(async () => {
    for (const c of open.splice(0)) c.stop();
    await server.close();
  });

  async function connect(kind: Transport): Promise<IoClient> {
    const url = kind === 'ws' ? `ws://127.0.0.1:${portOf(server, 'ws')}` : `cong://127.0.0.1:${portOf(server, 'cong')}`;
    const c = kind === 'ws' ? new lib.IO(url) : new lib.IOCongSocket(url);
    open.push(c);
    c.on('error', () => undefined);
    await nextEvent(c, 'ready', 3000);
    return c;
  }

  it('CID, subscribe, signal, unicast, CID publish, retained, iam, echo, ping, SERVER_SIGNAL, close notice', { timeout: 30_000 }, async () => {
    const w = await connect('ws');
    const c = await connect('cong');
    assert.match(w.cid, ANON_CID);
    assert.match(c.cid, ANON_CID);

    // Channel subscribe and signal, with self delivery.
    c.subscribe('compat');
    w.subscribe('compat');
    await barrier(c);
    await barrier(w);
    const onC = nextEvent(c, 'compat');
    const onW = nextEvent(w, 'compat');
    w.signal('compat', 'hello');
    assert.deepEqual(await onC, ['hello', 'compat']);
    assert.deepEqual(await onW, ['hello', 'compat']);
    const onC2 = nextEvent(c, 'compat');
    w.signal('compat', 'a', 2, { b: true });
    assert.deepEqual(await onC2, ['a', 2, { b: true }, 'compat'], 'MJSON payload');
    const onW2 = nextEvent(w, 'compat');
    c.signal('compat', Buffer.from([1, 2, 3]));
    const [bin] = await onW2;
    assert.ok(Buffer.isBuffer(bin) && bin.equals(Buffer.from([1, 2, 3])), 'BINARY payload cong → ws');

    // Unicast.
    const uni = nextEvent(w, '@');
    c.signal(`${w.cid}@direct`, 'u1');
    assert.deepEqual(await uni, ['u1', '@direct']);

    // CID publish.
    w.subscribe(`${c.cid}@temp`);
    await barrier(w);
    const cidPub = nextEvent(w, `${c.cid}@temp`);
    c.signal('@temp', 21.5);
    assert.deepEqual(await cidPub, ['21.5', `${c.cid}@temp`]);

    // Retained.
    w.signal('status$compat', { on: true });
    await barrier(w);
    const retained = nextEvent(c, 'status$compat');
    c.subscribe('status$compat');
    assert.deepEqual(await retained, [{ on: true }, 'status$compat']);

    // SUBSCRIBE_REQ through subscribe_promise: our RESPONSE_MBP must unpack in the reference MBP.
    const res = await w.subscribe_promise('p1,p2');
    assert.equal(res.ok, true);
    assert.equal(res.status, 0);

    // IAM.
    const iamRes = nextData(c, (buf) => buf[0] === MSG.IAM_RES, 'IAM_RES');
    c.iam('compat-nick');
    const iamJson = JSON.parse((await iamRes).subarray(1).toString()) as { cid: string; nick: string; tag: string[] };
    assert.equal(iamJson.cid, c.cid);
    assert.equal(iamJson.nick, 'compat-nick');
    assert.deepEqual(iamJson.tag, ['CH:compat', 'CH:status$compat']);

    // ECHO with data.
    const echoed = nextData(w, (buf) => buf[0] === MSG.ECHO && buf.length > 1, 'ECHO reply');
    w.echo('hi');
    assert.equal(hex(await echoed), 'cc6869');

    // PING: PONG message on cong; a pong frame (or PONG message, Q32) on ws.
    const pongC = nextData(c, (buf) => buf.length === 1 && buf[0] === MSG.PONG, 'PONG');
    c.ping();
    await pongC;
    const wsSocket = w.socket as PongSource;
    const pongW = Promise.race([
      new Promise<void>((resolve) => wsSocket.once('pong', () => resolve())),
      nextData(w, (buf) => buf.length === 1 && buf[0] === MSG.PONG, 'PONG').then(() => undefined),
    ]);
    w.ping();
    await pongW;

    // SERVER_SIGNAL.
    const noticeW = nextEvent(w, 'notice');
    const noticeC = nextEvent(c, 'notice');
    server.signal('notice', { msg: 'm' });
    assert.deepEqual(await noticeW, [{ msg: 'm' }]);
    assert.deepEqual(await noticeC, [{ msg: 'm' }]);

    // Close notice when the ws client goes away.
    const cidW = w.cid; // the client forgets its cid when it closes
    c.subscribe(`${cidW}@state`);
    await barrier(c);
    const state = nextEvent(c, `${cidW}@state`);
    w.stop();
    assert.deepEqual(await state, ['close', `${cidW}@state`]);
    await waitFor(() => server.metrics().connections === 1, 2000, 'the server to drop the ws client');
  });
});

describe('keepalive on the system clock (the default time source)', () => {
  it('silent ws and cong clients are closed between T and 2T (T clamped to 1000 ms)', { timeout: 10_000 }, async () => {
    const server = await startServer({ timeout: 1 });
    const pool = new ClientPool();
    try {
      const t0 = Date.now();
      const silent = await Promise.all((['ws', 'cong'] as const).map((kind) => pool.ready(kind, portOf(server, kind), { autoPong: false })));
      await Promise.all(silent.map((c) => c.waitClosed(3000)));
      for (const c of silent) {
        const elapsed = c.closedAt - t0;
        assert.ok(elapsed >= 900 && elapsed <= 2600, `${c.kind} client closed after ${elapsed} ms (T = 1000)`);
      }
      assert.equal(server.metrics().timeouts, 2);
    } finally {
      await pool.closeAll();
      await server.close();
    }
  });
});
