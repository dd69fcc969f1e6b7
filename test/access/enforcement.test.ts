// Issue 18 item 2, the matrix: every right on every path, allowed and denied, over real sockets (iosignal clients
// on WebSocket and CongSocket, plain JSON devices, the dashboard's send API) and in memory. The rules:
//   - 127.0.0.2 is the "operator": allowed everything; it watches what reaches each channel and writes retained
//     values others may not read.
//   - everyone else may read and write `ok`, read `ok/$kept` and retain there, publish `ok/$unkept` without
//     retaining it, use home channels but `#secret`, unicast and CID-publish on `open` only, call echo/ok only.
//   - a certificate `matrix-cert` may read `certonly`, also when a token is presented beside it.
// Each denied case is checked against the same case allowed, so a test cannot pass by nothing arriving at all.
// The other rows of the matrix live beside their paths: MQTT (test/mqtt/access.test.ts: SUBACK/PUBACK, wildcards
// checked per delivery and on retained replay, rule changes), positioned history subscriptions
// (test/services/history-access.test.ts), a certificate with a token over wss and mqtts
// (test/access/cert-and-token.test.ts), across two nodes (test/access/cluster.test.ts).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { createServer, type IosigServer } from '../../src/index.js';
import { MSG } from '../../src/protocol/codes.js';
import { decodeResponseMbp, encodeCall } from '../../src/protocol/rpc.js';
import type { Service } from '../../src/services/service.js';
import { ClientPool, type RawClient, type Transport } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { assertQuiet, sub, subReq, text } from '../kit/messages.js';
import { DevicePool } from '../plain/ws-device.js';
import { loadIosignal221, nextEvent, type Io221Client } from '../kit/iosignal-221.js';

const OPERATOR = '127.0.0.2';
const ADMIN_TOKEN = 'matrix-admin-token';

const RULES = `
allow address:${OPERATOR}  all               *
allow any                  subscribe,publish ok
allow any                  subscribe         ok/$kept ok/$unkept +@open +@$open
allow any                  publish,retain    ok/$kept
allow any                  publish           ok/$unkept
allow any                  subscribe,publish ##
deny  any                  subscribe,publish #secret
allow any                  send              +@open
allow any                  call              echo/ok
allow dashboard            publish           ok
allow dashboard            send              +@open
allow cert:matrix-cert     subscribe         certonly
`;

/** A service with two commands, so the allowed and the denied call differ only by the rule. */
const echo: Service = {
  name: 'echo',
  commands: ['ok', 'no'],
  checkPermission: () => true,
  call: () => ({ status: 0, body: 'pong' }),
};

/** The payload text of a SIGNAL (TEXT, NUL-terminated). */
function signalOf(msg: Buffer): { tag: string; text: string } {
  const tagLength = msg[1]!;
  return { tag: msg.subarray(2, 2 + tagLength).toString('utf8'), text: msg.subarray(3 + tagLength, msg.length - 1).toString('utf8') };
}

async function expectSignal(c: RawClient, tag: string, value: string): Promise<void> {
  const { msg } = await c.nextOfType(MSG.SIGNAL, 2000);
  assert.deepEqual(signalOf(msg), { tag, text: value });
}

/** SUBSCRIBE_REQ: its status, and the signals replayed before the answer (retained values). */
async function subscribing(c: RawClient, mid: number, tags: string): Promise<{ status: number; replayed: { tag: string; text: string }[] }> {
  c.send(subReq(mid, tags));
  const { msg, skipped } = await c.nextOfType(MSG.RESPONSE_MBP, 2000);
  const res = decodeResponseMbp(msg);
  assert.equal(res?.mid, mid);
  return { status: res!.status, replayed: skipped.filter((m) => m[0] === MSG.SIGNAL).map(signalOf) };
}

async function subscribed(c: RawClient, mid: number, tags: string): Promise<number> {
  const { status, replayed } = await subscribing(c, mid, tags);
  assert.deepEqual(replayed, []);
  return status;
}

async function call(c: RawClient, mid: number, service: string, command: string): Promise<{ status: number; body?: unknown }> {
  c.send(encodeCall(mid, service, command));
  const { msg } = await c.nextOfType(MSG.RESPONSE_MBP, 2000);
  const res = decodeResponseMbp(msg)!;
  return { status: res.status, body: res.body };
}

describe('access rules on every path (issue 18 item 2)', () => {
  let server: IosigServer;
  let dir: string;
  let aclPath: string;
  const lines: string[] = [];
  const pool = new ClientPool();
  const devices = new DevicePool();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iosig-acl-'));
    aclPath = join(dir, 'rules.acl');
    await writeFile(aclPath, RULES);
    server = await createServer({
      port: 0,
      congPort: 0,
      host: '127.0.0.1',
      log: (line) => void lines.push(line),
      services: [echo],
      adminToken: ADMIN_TOKEN,
      access: { aclFile: aclPath, aclWatchMs: 0 },
    });
  });
  afterEach(async () => {
    devices.closeAll();
    await pool.closeAll();
    await writeFile(aclPath, RULES);
    await server.reloadAccess();
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const operator = (kind: Transport = 'cong'): Promise<RawClient> => pool.ready(kind, kind === 'ws' ? server.wsPort! : server.congPort!, { localAddress: OPERATOR });
  const device = (kind: Transport): Promise<RawClient> => pool.ready(kind, kind === 'ws' ? server.wsPort! : server.congPort!);

  for (const kind of ['ws', 'cong'] as const) {
    describe(`an iosignal client over ${kind}`, () => {
      it('subscribe: an allowed channel is joined, a denied one answers 255 and never delivers', async () => {
        const c = await device(kind);
        const op = await operator();
        assert.equal(await subscribed(c, 1, 'ok'), 0);
        assert.equal(await subscribed(c, 2, 'no'), 255);
        // SUBSCRIBE (no answer) with both: the allowed one stays, the denied one is not joined.
        c.send(sub('ok,nope'));
        await c.sync();
        op.send(text('no', 'denied'));
        op.send(text('nope', 'denied'));
        op.send(text('ok', 'allowed'));
        await expectSignal(c, 'ok', 'allowed');
        await assertQuiet(c);
        const before = server.metrics().aclDenials.subscribe;
        assert.ok(before >= 2, `subscribe denials counted (${before})`);
      });

      it('publish: an allowed channel reaches its subscribers, a denied one reaches nobody', async () => {
        const c = await device(kind);
        const op = await operator();
        op.send(sub('ok,no'));
        await op.sync();
        c.send(text('no', 'denied'));
        c.send(text('ok', 'allowed'));
        await expectSignal(op, 'ok', 'allowed');
        await assertQuiet(op);
      });

      it('retain: with retain the value is kept; with publish only it is delivered but not kept', async () => {
        const c = await device(kind);
        const op = await operator();
        op.send(sub('ok/$unkept,ok/$kept'));
        await op.sync();
        c.send(text('ok/$unkept', 'live only'));
        c.send(text('ok/$kept', 'kept'));
        await expectSignal(op, 'ok/$unkept', 'live only');
        await expectSignal(op, 'ok/$kept', 'kept');
        const late = await device(kind);
        late.send(sub('ok/$unkept'));
        late.send(sub('ok/$kept'));
        await expectSignal(late, 'ok/$kept', 'kept');
        await assertQuiet(late);
      });

      it('retained replay at subscribe: a channel-retained value is replayed only where subscribe is allowed', async () => {
        const op = await operator();
        op.send(text('sec/$r', 'secret value'));
        op.send(text('ok/$kept', 'open value'));
        await op.sync();
        const c = await device(kind);
        assert.deepEqual(await subscribing(c, 3, 'sec/$r'), { status: 255, replayed: [] });
        assert.deepEqual(await subscribing(c, 4, 'ok/$kept'), { status: 0, replayed: [{ tag: 'ok/$kept', text: 'open value' }] });
        await assertQuiet(c);
      });

      it('CID-retained replay at subscribe follows subscribe on <cid>@<topic>', async () => {
        const op = await operator();
        op.send(text('@$open', 'cid open'));
        op.send(text('@$shut', 'cid shut'));
        await op.sync();
        const c = await device(kind);
        assert.deepEqual(await subscribing(c, 5, `${op.cid}@$shut`), { status: 255, replayed: [] });
        assert.deepEqual(await subscribing(c, 6, `${op.cid}@$open`), { status: 0, replayed: [{ tag: `${op.cid}@$open`, text: 'cid open' }] });
        await assertQuiet(c);
      });

      it('send: a unicast and a CID publish need send on the CID and topic', async () => {
        const c = await device(kind);
        const op = await operator();
        op.send(sub(`${c.cid}@open,${c.cid}@shut`));
        await op.sync();
        c.send(text(`${op.cid}@shut`, 'denied unicast'));
        c.send(text(`${op.cid}@open`, 'unicast'));
        await expectSignal(op, '@open', 'unicast');
        c.send(text('@shut', 'denied cid publish'));
        c.send(text('@open', 'cid publish'));
        await expectSignal(op, `${c.cid}@open`, 'cid publish');
        await assertQuiet(op);
        assert.ok(server.metrics().aclDenials.send >= 2);
      });

      it('home channels: ## allows them, #secret is denied both ways', async () => {
        const c = await device(kind);
        const d = await device(kind);
        assert.equal(await subscribed(d, 7, '#home'), 0);
        assert.equal(await subscribed(d, 8, '#secret'), 255);
        c.send(text('#secret', 'denied'));
        c.send(text('#home', 'allowed'));
        await expectSignal(d, '#home', 'allowed');
        await assertQuiet(d);
      });

      it('call: a denied command answers (255, "NO_PERMISSION.")', async () => {
        const c = await device(kind);
        assert.deepEqual(await call(c, 9, 'echo', 'ok'), { status: 0, body: 'pong' });
        assert.deepEqual(await call(c, 10, 'echo', 'no'), { status: 255, body: 'NO_PERMISSION.' });
      });
    });
  }

  describe('the published iosignal 2.2.1 clients (IO over WebSocket, IOCongSocket)', () => {
    for (const kind of ['ws', 'cong'] as const) {
      it(`${kind}: subscribe_promise rejects a denied tag; a rule change raises the 'access' event`, async () => {
        const lib = await loadIosignal221();
        const c = (kind === 'ws' ? new lib.IO() : new lib.IOCongSocket()) as Io221Client & { subscribe_promise(tag: string): Promise<unknown> };
        c.on('error', () => undefined);
        try {
          c.open(kind === 'ws' ? `ws://127.0.0.1:${server.wsPort}` : `cong://127.0.0.1:${server.congPort}`);
          await nextEvent(c, 'ready');
          await c.subscribe_promise('ok');
          await assert.rejects(c.subscribe_promise('no'));
          const notice = nextEvent(c, 'access');
          await writeFile(aclPath, RULES.replace('allow any                  subscribe,publish ok\n', 'allow any publish ok\n'));
          assert.equal(await server.reloadAccess(), true);
          assert.deepEqual((await notice)[0], { unsubscribed: ['ok'], reason: 'access rules changed' });
        } finally {
          c.stop();
        }
      });
    }
  });

  describe('an io-serial bridge (a WebSocket declaring X-Iosig-Device: serial)', () => {
    it('is checked as any iosignal client: its denied subscription and publish go nowhere', async () => {
      const bridge = await pool.ready('ws', server.wsPort!, { headers: { 'X-Iosig-Device': 'serial' } });
      const op = await operator();
      op.send(sub('ok,no'));
      await op.sync();
      assert.equal(await subscribed(bridge, 1, 'no'), 255);
      bridge.send(text('no', 'denied line'));
      bridge.send(text('ok', 'a line'));
      await expectSignal(op, 'ok', 'a line');
      await assertQuiet(op);
    });
  });

  describe('a plain JSON device', () => {
    it('its denied channel is not joined (ERROR), its frames reach only the channels it may publish to', async () => {
      const op = await operator();
      op.send(sub('ok,no'));
      await op.sync();
      const { device: plain } = await devices.json(server.wsPort!, 'ok,no');
      assert.deepEqual(await plain.nextJson(), { type: 'ERROR', error: 'access denied: subscribe no' });
      plain.sendText(JSON.stringify({ type: 'TEXT', payload: 'from the device' }));
      assert.deepEqual(await plain.nextJson(), { type: 'ERROR', error: 'access denied: publish no' });
      await expectSignal(op, 'ok', 'from the device');
      await assertQuiet(op);
      op.send(text('no', 'denied'));
      op.send(text('ok', 'allowed'));
      const got = await plain.nextJson();
      assert.equal(got.tag, 'ok');
      assert.equal(got.payload, 'allowed');
      assert.equal(plain.waiting, 0);
    });
  });

  describe('in memory (the same broker without sockets)', () => {
    it('a denied SUBSCRIBE_REQ answers 255 and the denied publish is dropped', async () => {
      const endpoint = server.connectInMemory({ transport: 'cong', peerIp: '127.0.0.1' });
      const got: Buffer[] = [];
      endpoint.on('message', (m: Buffer) => got.push(Buffer.from(m)));
      endpoint.send(Buffer.from([MSG.CID_REQ]));
      endpoint.send(subReq(1, 'no'));
      endpoint.send(subReq(2, 'ok'));
      await waitFor(() => got.filter((m) => m[0] === MSG.RESPONSE_MBP).length === 2, 2000, 'two answers');
      const answers = got.filter((m) => m[0] === MSG.RESPONSE_MBP).map((m) => decodeResponseMbp(m)!.status);
      assert.deepEqual(answers, [255, 0]);
      endpoint.close();
    });

    it('a certificate presented beside a token stays a cert: subject (subscribe allowed by the cert rule alone)', async () => {
      const answersOf = async (certificate: string | undefined): Promise<number[]> => {
        const endpoint = server.connectInMemory({ transport: 'ws', identity: { kind: 'token', token: 'opaque-token' }, ...(certificate ? { certificate } : {}) });
        const got: Buffer[] = [];
        endpoint.on('message', (m: Buffer) => got.push(Buffer.from(m)));
        endpoint.send(Buffer.from([MSG.CID_REQ]));
        endpoint.send(subReq(1, 'certonly'));
        await waitFor(() => got.some((m) => m[0] === MSG.RESPONSE_MBP), 2000, 'the answer');
        endpoint.close();
        return got.filter((m) => m[0] === MSG.RESPONSE_MBP).map((m) => decodeResponseMbp(m)!.status);
      };
      assert.deepEqual(await answersOf('matrix-cert'), [0], 'with the certificate');
      assert.deepEqual(await answersOf(undefined), [255], 'the same token without it');
    });
  });

  describe('the dashboard send API (subject dashboard)', () => {
    const post = (body: unknown): Promise<Response> =>
      fetch(`http://127.0.0.1:${server.wsPort}/api/signal`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    it('answers 403 for what the rules do not allow it, and sends what they do', async () => {
      const op = await operator();
      op.send(sub('ok,no'));
      await op.sync();
      const denied = await post({ target: 'channel', tag: 'no', payload: 'x' });
      assert.equal(denied.status, 403);
      assert.deepEqual(await denied.json(), { error: 'access denied' });
      assert.equal((await post({ target: 'cid', cid: op.cid, topic: 'shut', payload: 'x' })).status, 403);
      assert.equal((await post({ target: 'everyone', tag: 'all', payload: 'x' })).status, 403);
      assert.equal((await post({ target: 'channel', tag: 'ok', payload: 'dash' })).status, 200);
      await expectSignal(op, 'ok', 'dash');
      assert.equal((await post({ target: 'cid', cid: op.cid, topic: 'open', payload: 'to you' })).status, 200);
      await expectSignal(op, '@open', 'to you');
      await assertQuiet(op);
    });
  });

  describe('a rule change reaches live sessions at once', () => {
    for (const kind of ['ws', 'cong'] as const) {
      it(`${kind}: a subscription the new rules deny ends, with a notice, and delivers nothing more`, async () => {
        const c = await device(kind);
        const op = await operator();
        assert.equal((await subscribing(c, 1, 'ok,ok/$kept')).status, 0);
        await writeFile(aclPath, RULES.replace('allow any                  subscribe,publish ok\n', 'allow any publish ok\n'));
        assert.equal(await server.reloadAccess(), true);
        const { msg } = await c.nextOfType(MSG.SERVER_SIGNAL, 2000);
        assert.deepEqual(JSON.parse(msg.subarray(1).toString('utf8')), { event: 'access', data: { unsubscribed: ['ok'], reason: 'access rules changed' } });
        op.send(text('ok', 'after the change'));
        op.send(text('ok/$kept', 'still readable'));
        await expectSignal(c, 'ok/$kept', 'still readable');
        await assertQuiet(c);
        assert.ok(server.metrics().aclRevokedSubscriptions >= 1);
      });
    }

    it('a publish allowed a moment ago is denied once the new rules say so (nothing is remembered across a change)', async () => {
      const c = await device('cong');
      const op = await operator();
      op.send(sub('ok'));
      await op.sync();
      c.send(text('ok', 'first'));
      c.send(text('ok', 'second'));
      await expectSignal(op, 'ok', 'first');
      await expectSignal(op, 'ok', 'second');
      await writeFile(aclPath, RULES.replace('allow any                  subscribe,publish ok\n', 'allow any subscribe ok\n'));
      assert.equal(await server.reloadAccess(), true);
      c.send(text('ok', 'after the change'));
      await c.sync();
      await assertQuiet(op);
    });

    it('an unusable new file is refused whole, naming the line, and the rules in force stay', async () => {
      const c = await device('cong');
      assert.equal(await subscribed(c, 1, 'ok'), 0);
      await writeFile(aclPath, `${RULES}\nallow any publsh x\n`);
      assert.equal(await server.reloadAccess(), false);
      assert.ok(lines.some((l) => /reload FAILED, the previous \d+ rules stay in force: .*line \d+: unknown right "publsh"/.test(l)), lines.join('\n'));
      assert.equal(await subscribed(c, 2, 'ok'), 0);
      assert.equal(await subscribed(c, 3, 'no'), 255);
    });
  });
});
