// Issue 16 item 1: JSON nested thousands of levels deep, on every path that handles it, over real sockets. The
// broker (and iosig's client library) never parses JSON deeper than MAX_JSON_DEPTH (64) into values, so nothing
// recursive walks what a client wrote: a JSON device's deep frame gets an ERROR, a deep value someone publishes
// reaches iosignal clients unchanged and JSON devices as base64, and nobody is closed for it.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { MSG, PAYLOAD, STATUS } from '../../src/protocol/codes.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import { MB, pack, type MbpItem } from '../../src/protocol/mbp.js';
import { decodeResponseMbp } from '../../src/protocol/rpc.js';
import { readIamRes, readServerSignal } from '../../src/client/inbound.js';
import { IoClient, type SignalMessage } from '../../src/client/index.js';
import { createServer } from '../../src/index.js';
import { ClientPool } from '../kit/raw-client.js';
import { startServer, type IosigServer } from '../kit/server.js';
import { nextEvent } from '../client/support.js';
import { postJson } from '../http/support.js';
import { waitFor } from '../kit/wait.js';
import { createReplyService } from '../../src/services/reply.js';
import { DevicePool, nested } from './ws-device.js';
import { inside } from '../kit/inside.js';
import { hex, sub, text } from '../kit/messages.js';

/** The documented bound (MAX_JSON_DEPTH, README: Security). */
const MAX_JSON_DEPTH = 64;
const object = (tag: string, json: string): Buffer => encodeSignal(tag, PAYLOAD.OBJECT, Buffer.from(json));
const mjson = (tag: string, json: string): Buffer => encodeSignal(tag, PAYLOAD.MJSON, Buffer.from(json));
/** An MBA whose argument 0 is a JSON field (type O) holding `json` as it is. */
const mbaBytes = (json: string): Buffer => pack([{ name: 0, type: 'O', bytes: Buffer.from(json) } satisfies MbpItem]);

describe('JSON nested too deep (issue 16 item 1)', () => {
  let server: IosigServer;
  const pool = new ClientPool();
  const devices = new DevicePool();
  const clients: IoClient[] = [];

  before(async () => {
    server = await createServer({ port: 0, congPort: 0, host: '127.0.0.1', log: () => {}, services: [createReplyService()], adminToken: 'deep-secret' });
  });
  afterEach(async () => {
    devices.closeAll();
    for (const client of clients.splice(0)) client.close();
    await pool.closeAll();
  });
  after(() => server.close());

  /** A subscribed iosignal client (raw, over CongSocket). */
  async function listener(tags: string) {
    const c = await pool.ready('cong', server.congPort!);
    c.send(sub(tags));
    await c.sync();
    return c;
  }

  it('a JSON device sending an envelope 6000, 12 000 or 100 000 levels deep gets an ERROR; it and the server carry on', async () => {
    const app = await listener('x');
    const { device } = await devices.json(server.wsPort!, 'x');
    for (const depth of [6000, 12_000, 100_000]) {
      device.sendText(`{"payload":${nested(depth)}}`);
      const error = await device.nextJson();
      assert.equal(error.type, 'ERROR');
      assert.match(String(error.error), /nested deeper than 64 levels/);
    }
    // The bound is exact: a payload 64 levels deep passes, 65 does not.
    device.sendText(`{"payload":${nested(MAX_JSON_DEPTH)}}`);
    assert.equal(hex(await app.next(3000)), hex(object('x', nested(MAX_JSON_DEPTH))));
    device.sendText(`{"payload":${nested(MAX_JSON_DEPTH + 1)}}`);
    assert.equal((await device.nextJson()).type, 'ERROR');
    device.sendText('{"payload":"still here"}');
    assert.equal(hex(await app.next(3000)), hex(text('x', 'still here')));
    assert.equal(server.metrics().internalErrors, 0);
  });

  it('a deep value published live reaches iosignal clients unchanged, raw devices as it is, JSON devices as base64', async () => {
    const app = await listener('deep');
    const raw = await devices.open(server.wsPort!, '/plain/deep');
    const { device: json } = await devices.json(server.wsPort!, 'deep');
    await waitFor(() => inside(server).router.channels.get('CH:deep')?.subscribers.size === 3, 3000, 'three subscribers');
    const pub = await pool.ready('cong', server.congPort!);
    const deep = nested(20_000);
    const mba = mbaBytes(deep);
    for (const msg of [object('deep', deep), mjson('deep', deep), encodeSignal('deep', PAYLOAD.MBA, mba)]) {
      pub.send(msg);
      assert.equal(hex(await app.next(3000)), hex(msg), 'iosignal clients get the bytes as sent');
      const payload = msg.subarray(3 + msg[1]!);
      const rawFrame = await raw.next();
      if (msg[2 + msg[1]!] === PAYLOAD.MBA) {
        // An MBA whose JSON field is too deep has no JSON form: a raw device gets its bytes.
        assert.deepEqual(rawFrame, { data: payload, binary: true });
      } else {
        assert.deepEqual(rawFrame, { data: payload, binary: false }, 'a raw device gets the JSON text as it is');
      }
      const envelope = await json.nextJson();
      assert.equal(envelope.encoding, 'base64');
      assert.equal(envelope.from, pub.cid);
      assert.ok(Buffer.from(String(envelope.payload), 'base64').equals(payload), 'a JSON device gets the bytes, base64');
    }
    // The publisher was not closed for what its receivers could not show.
    assert.deepEqual((await pub.sync()).map(hex), []);
    assert.equal(server.metrics().internalErrors, 0);
  });

  it('a deep retained value (cfg$all, MJSON 20 000 deep) does not close JSON devices at connect, nor on reconnect', async () => {
    const pub = await pool.ready('cong', server.congPort!);
    const deep = mjson('cfg$all', nested(20_000));
    pub.send(deep);
    await pub.sync();
    await waitFor(() => inside(server).router.retained.has('CH:cfg$all'), 2000, 'the value retained');
    for (let attempt = 0; attempt < 2; attempt++) {
      const { device } = await devices.json(server.wsPort!, 'cfg$all');
      const replay = await device.nextJson();
      assert.equal(replay.tag, 'cfg$all');
      assert.equal(replay.type, 'MJSON');
      assert.equal(replay.encoding, 'base64');
      assert.ok(Buffer.from(String(replay.payload), 'base64').equals(deep.subarray(3 + deep[1]!)));
      // Still open and served.
      pub.send(text('cfg$all', 'next'));
      const next = await device.nextJson();
      assert.equal(next.payload, 'next');
      assert.equal(device.closed, null);
      pub.send(deep);
      await device.nextJson();
      device.close();
    }
    assert.equal(server.metrics().internalErrors, 0);
  });

  it("iosig's client library leaves a deep payload undecoded (values hold its bytes), so nothing it hands out is deep", async () => {
    const client = new IoClient(`ws://127.0.0.1:${server.wsPort}`, { reconnect: false });
    clients.push(client);
    await client.whenReady(3000);
    client.subscribe('lib');
    await client.echo('sync');
    const pub = await pool.ready('ws', server.wsPort!);
    const cases: [Buffer, boolean][] = [
      [object('lib', nested(20_000)), false],
      [object('lib', `{"a":${nested(MAX_JSON_DEPTH - 1)}}`), true],
      [mjson('lib', nested(MAX_JSON_DEPTH + 1)), false],
      [encodeSignal('lib', PAYLOAD.MBA, mbaBytes(nested(20_000))), false],
    ];
    for (const [msg, decoded] of cases) {
      const got = nextEvent(client, 'message', 3000);
      pub.send(msg);
      const [m] = (await got) as [SignalMessage];
      assert.equal(m.decoded, decoded, `decoded ${hex(msg.subarray(0, 12))}…`);
      if (!decoded) assert.ok(Buffer.isBuffer(m.values[0]) && m.values[0].equals(msg.subarray(3 + msg[1]!)));
    }
    // The same rule for the JSON the server itself sends (a hostile server cannot hand the app a deep value).
    assert.equal(readServerSignal(Buffer.concat([Buffer.from([MSG.SERVER_SIGNAL]), Buffer.from(`{"event":"e","data":${nested(10_000)}}`)])), null);
    assert.equal(readIamRes(Buffer.concat([Buffer.from([MSG.IAM_RES]), Buffer.from(`{"cid":"a","ssid":1,"x":${nested(10_000)}}`)])), 'not-json');
  });

  it('a CALL whose argument is nested too deep is answered: the MBP field does not decode (reply.echo)', async () => {
    const caller = await pool.ready('cong', server.congPort!);
    const call = (mid: number, json: string): Buffer =>
      pack(MB('#type', '8', MSG.CALL), MB('mid', '16', mid), MB('target', 'reply'), MB('topic', 'echo'), [{ name: 0, type: 'O', bytes: Buffer.from(json) }]);
    caller.send(call(7, nested(20_000)));
    const deep = decodeResponseMbp(await caller.next(3000));
    // Not INTERNAL_SERVER_ERROR from a reply that could not be serialised: the argument was never decoded.
    assert.deepEqual(deep, { status: STATUS.ERROR, mid: 7, body: 'no message to echo' });
    // Within the bound it is echoed (one level more in the reply's array, still within the bound to read back).
    caller.send(call(8, nested(MAX_JSON_DEPTH - 1)));
    const fine = decodeResponseMbp(await caller.next(3000));
    assert.equal(fine?.status, STATUS.OK);
    assert.equal(JSON.stringify(fine?.body), `[${nested(MAX_JSON_DEPTH - 1)}]`);
  });

  it('the dashboard refuses to send JSON nested deeper than 64 levels, with the reason', async () => {
    const auth = { authorization: 'Bearer deep-secret' };
    const deep = await postJson(server.wsPort!, '/api/signal', { target: 'channel', tag: 'd', payloadKind: 'json', payload: nested(10_000) }, auth);
    assert.equal(deep.status, 400);
    assert.match(JSON.parse(deep.body).error, /nested deeper than 64 levels/);
    const fine = await postJson(server.wsPort!, '/api/signal', { target: 'channel', tag: 'd', payloadKind: 'json', payload: nested(64) }, auth);
    assert.equal(fine.status, 200);
  });

  it('`-s message` shows the start of a text frame, not all of it', async () => {
    const verbose: string[] = [];
    const shown = await startServer({ showMessage: 'message' }, verbose);
    try {
      const c = await pool.ready('ws', shown.wsPort!);
      c.sendText('x'.repeat(1_000_000));
      await c.sync();
      const line = verbose.find((l) => l.includes('[TEXT]'));
      assert.ok(line, 'the text frame is logged');
      assert.ok(line.length < 300, `a ${line.length}-character line`);
      assert.match(line, /\.\.\. else: 999900/);
    } finally {
      await shown.close();
    }
  });
});
