// Issue 16 item 5: what the plain endpoint may cost, asserted on bounds that do not depend on timing — frames
// built, bytes held, counters. Out: one translation per publish and format, compact for control bytes, sized
// against each device's budget before it is built. In: one frame publishes at most --max-message bytes in all,
// and the quotas judge the frame once, against every message it stands for.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { PAYLOAD } from '../../src/protocol/codes.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import { ClientPool, type RawClient } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { ManualClock } from '../kit/manual-clock.js';
import { startServer, type IosigServer } from '../kit/server.js';
import type { ServerOptionsInput } from '../../src/options.js';
import { DevicePool, type WsDevice } from './ws-device.js';
import { SIGNALS_PER_TURN } from '../../src/plain/frame-pacer.js';
import { ERROR_ROOM, type FrameSocket, type PlainLink } from '../../src/plain/plain-link.js';
import { inside, serverOf } from '../kit/inside.js';
import { assertQuiet, hex, sub } from '../kit/messages.js';

/** A plain device's socket without a network: frames are taken, the end is reported as uWS reports it. */
class StandInSocket implements FrameSocket {
  link: PlainLink | null = null;
  ended: string | null = null;
  send(): number {
    return 1;
  }
  getBufferedAmount(): number {
    return 0;
  }
  ping(): void {}
  end(_code?: number, reason?: string): void {
    this.ended ??= reason ?? '';
    this.close();
  }
  close(): void {
    const link = this.link;
    if (!link || link.closed) return;
    link.closed = true;
    link.conn?.linkClosed();
  }
}

const KiB = 1024;
/** A TEXT payload of `bytes` control bytes (0x01) and the NUL. */
const controlText = (bytes: number): Buffer => Buffer.concat([Buffer.alloc(bytes, 1), Buffer.from([0])]);

/** What a plain device's connection holds unsent in uWS's buffer (the bytes the budget bounds). */
function bufferedFor(server: IosigServer, cid: string): number {
  const conn = [...inside(server).registry.sessions].find((c) => c.cid === cid);
  assert.ok(conn, `connection ${cid}`);
  return conn.link.buffered();
}

async function plainSubscribed(server: IosigServer, tag: string, count: number): Promise<void> {
  await waitFor(() => inside(server).router.channels.get(`CH:${tag}`)?.subscribers.size === count, 3000, `${count} subscribers of ${tag}`);
}

/** A server started before a describe block's tests and closed after them; its devices are closed after each test. */
function suiteServer(options: ServerOptionsInput): { server: IosigServer; readonly devices: DevicePool } {
  const suite = { server: undefined as unknown as IosigServer, devices: new DevicePool() };
  before(async () => {
    suite.server = await startServer(options);
  });
  afterEach(() => suite.devices.closeAll());
  after(() => suite.server.close());
  return suite;
}

/**
 * A JSON device on `tag` stops reading; small frames go out until uWS holds some of them (a few hundred bytes
 * then, within any limit, so the device still takes one more frame of any size), then `frames` frames of 30 KiB
 * of control bytes (about 40 KiB each as base64). Returns what uWS held before them, the most it held during
 * them and the drops they caused.
 */
async function pausedFlood(suite: { server: IosigServer; devices: DevicePool }, tag: string, frames: number): Promise<{ filled: number; most: number; dropped: number }> {
  const { server, devices } = suite;
  const { device, cid } = await devices.json(server.wsPort!, tag);
  await plainSubscribed(server, tag, 1);
  device.pause();
  const small = Buffer.from(`${'s'.repeat(200)}\0`);
  for (let i = 0; i < 200_000 && bufferedFor(server, cid) === 0; i++) server.sendSignal(tag, PAYLOAD.TEXT, small);
  const filled = bufferedFor(server, cid);
  assert.ok(filled > 0, 'uWS holds some of the small frames');
  const before = server.metrics().drops;
  let most = filled;
  for (let i = 0; i < frames; i++) {
    server.sendSignal(tag, PAYLOAD.TEXT, controlText(30 * KiB));
    most = Math.max(most, bufferedFor(server, cid));
  }
  return { filled, most, dropped: server.metrics().drops - before };
}

describe('what the plain endpoint sends (issue 16 item 5, outgoing)', () => {
  let server: IosigServer;
  const devices = new DevicePool();

  before(async () => {
    server = await startServer();
  });
  afterEach(() => devices.closeAll());
  after(() => server.close());

  it('one translation per publish and format, the same bytes for every device', async () => {
    const json: WsDevice[] = [];
    for (let i = 0; i < 5; i++) json.push((await devices.json(server.wsPort!, 'fan')).device);
    const raw: WsDevice[] = [];
    for (let i = 0; i < 3; i++) raw.push(await devices.open(server.wsPort!, '/plain/fan'));
    await plainSubscribed(server, 'fan', 8);
    const built = server.metrics().plainFramesBuilt;
    server.sendSignal('fan', PAYLOAD.OBJECT, Buffer.from('{"t":21.5,"note":"a \\"quoted\\" word"}'));
    const jsonFrames = await Promise.all(json.map((d) => d.next()));
    const rawFrames = await Promise.all(raw.map((d) => d.next()));
    assert.equal(server.metrics().plainFramesBuilt - built, 2, 'one JSON frame and one raw frame for eight devices');
    for (const frame of jsonFrames) assert.ok(frame.data.equals(jsonFrames[0]!.data));
    assert.deepEqual(JSON.parse(jsonFrames[0]!.data.toString()), { tag: 'fan', from: '', server: true, type: 'OBJECT', payload: { t: 21.5, note: 'a "quoted" word' } });
    for (const frame of rawFrames) assert.deepEqual(frame, { data: Buffer.from('{"t":21.5,"note":"a \\"quoted\\" word"}'), binary: false });
  });

  it('TEXT of control bytes travels as base64 (4/3 of it), not escaped six times over; ordinary text stays a string', async () => {
    const { device } = await devices.json(server.wsPort!, 'ctl');
    server.sendSignal('ctl', PAYLOAD.TEXT, controlText(64 * KiB));
    const frame = await device.next();
    assert.ok(frame.data.length <= Math.ceil((64 * KiB * 4) / 3) + 256, `a ${frame.data.length}-byte frame for 64 KiB`);
    const envelope = JSON.parse(frame.data.toString()) as Record<string, unknown>;
    assert.equal(envelope.encoding, 'base64');
    assert.ok(Buffer.from(String(envelope.payload), 'base64').equals(Buffer.alloc(64 * KiB, 1)));
    // Text that is not UTF-8 is not mangled into U+FFFD either.
    server.sendSignal('ctl', PAYLOAD.TEXT, Buffer.from([0x41, 0xff, 0x42, 0]));
    assert.deepEqual(await device.nextJson(), { tag: 'ctl', from: '', server: true, type: 'TEXT', encoding: 'base64', payload: 'Qf9C' });
    const lines = 'line one\n"two"\tand \\three\\\n'.repeat(100);
    server.sendSignal('ctl', PAYLOAD.TEXT, Buffer.from(`${lines}\0`));
    assert.deepEqual(await device.nextJson(), { tag: 'ctl', from: '', server: true, type: 'TEXT', payload: lines });
  });
});

describe('--max-plain-json (issue 16 item 5)', () => {
  let server: IosigServer;
  const devices = new DevicePool();

  before(async () => {
    server = await startServer({ maxPlainJson: 64 });
  });
  afterEach(() => devices.closeAll());
  after(() => server.close());

  it('a JSON envelope over it is refused unparsed; a JSON payload over it reaches JSON devices as base64', async () => {
    const { device } = await devices.json(server.wsPort!, 'j');
    device.sendText(JSON.stringify({ payload: 'z'.repeat(100) }));
    const error = await device.nextJson();
    assert.equal(error.type, 'ERROR');
    assert.match(String(error.error), /at most 64 \(send larger payloads as binary frames\)/);
    const small = '{"t":1}';
    const large = JSON.stringify({ t: 'y'.repeat(100) });
    server.sendSignal('j', PAYLOAD.OBJECT, Buffer.from(small));
    assert.deepEqual((await device.nextJson()).payload, { t: 1 });
    server.sendSignal('j', PAYLOAD.OBJECT, Buffer.from(large));
    const envelope = await device.nextJson();
    assert.equal(envelope.encoding, 'base64');
    assert.equal(Buffer.from(String(envelope.payload), 'base64').toString(), large);
  });
});

describe("a plain device's budget (issue 16 item 5, outgoing)", () => {
  // --max-message 64 KiB, --max-backpressure and --max-backlog 8 KiB: a device's socket may hold 4 KiB (its hard
  // cap, half --max-backlog as for any WebSocket) before it is over its limit, and at most 4 + 64 = 68 KiB with
  // one more frame.
  const BUDGET = 4 * KiB + 64 * KiB;
  const suite = suiteServer({ maxMessageSize: 64 * KiB, maxBackpressure: 8 * KiB, maxBacklog: 8 * KiB, slowConsumer: 'drop' });

  it('a frame larger than what a device may hold is dropped and counted, and never built', async () => {
    const { server, devices } = suite;
    const { device: json } = await devices.json(server.wsPort!, 'big');
    const raw = await devices.open(server.wsPort!, '/plain/big');
    await plainSubscribed(server, 'big', 2);
    const before = server.metrics();
    // About 64 KiB of control bytes: as base64 about 85 KiB, more than the 68 KiB a device may hold.
    const payload = controlText(63 * KiB + 900);
    server.sendSignal('big', PAYLOAD.TEXT, payload);
    const rawFrame = await raw.next();
    assert.equal(rawFrame.data.length, payload.length - 1, 'the raw device has room for the text itself');
    const after = server.metrics();
    assert.equal(after.plainFramesBuilt - before.plainFramesBuilt, 1, 'the raw frame only: the JSON one was never built');
    assert.equal(after.drops - before.drops, 1, 'the JSON device’s frame is counted as dropped');
    // The JSON device is not closed and gets what fits.
    server.sendSignal('big', PAYLOAD.TEXT, Buffer.from('small\0'));
    assert.equal((await json.nextJson()).payload, 'small');
    assert.equal(json.closed, null);
  });

  it('a paused JSON device never holds more than its hard cap + one message, whatever is published', async () => {
    const { filled, most, dropped } = await pausedFlood(suite, 'flood', 20);
    assert.ok(filled <= 4 * KiB, `uWS held ${filled} bytes before the flood`);
    assert.ok(most <= BUDGET, `held ${most} bytes; the budget is ${BUDGET}`);
    assert.ok(most > filled, 'one large frame went in');
    assert.ok(dropped >= 19, 'the rest were dropped and counted');
  });
});

describe('refusals to a device that does not read (red team, the class of issue 16 item 5)', () => {
  const suite = suiteServer({});

  it(`a JSON device flooding bad frames is sent ERRORs only while its socket holds at most ${ERROR_ROOM} bytes`, async () => {
    // Before, every refusal was answered while the device had room up to its hard cap (32 MiB by default), outside
    // the slow-consumer rules: a one-byte frame reflected as a 60-byte ERROR kept by the server.
    const { server, devices } = suite;
    const { device, cid } = await devices.json(server.wsPort!, 'noisy');
    await plainSubscribed(server, 'noisy', 1);
    device.pause();
    const small = Buffer.from(`${'s'.repeat(200)}\0`);
    for (let i = 0; i < 200_000 && bufferedFor(server, cid) === 0; i++) server.sendSignal('noisy', PAYLOAD.TEXT, small);
    assert.ok(bufferedFor(server, cid) > 0, 'the kernel buffers are full: uWS holds what comes next');
    const before = inside(server).stats.badMessages;
    for (let i = 0; i < 60_000; i++) device.sendText('x');
    await waitFor(() => inside(server).stats.badMessages - before === 60_000, 10_000, 'every bad frame refused');
    const held = bufferedFor(server, cid);
    assert.ok(held <= ERROR_ROOM + 1024, `uWS holds ${held} bytes for the device`);
  });
});

describe("a plain device's budget is its hard cap + one message (--max-backlog)", () => {
  // --max-message 64 KiB, --max-backpressure 8 KiB, --max-backlog 64 KiB: the soft limit is 4 KiB, the hard cap
  // 32 KiB, so the budget is 32 + 64 = 96 KiB: a frame of about 85 KiB goes to a device holding nothing (it would
  // not fit the soft limit + one message, 68 KiB), as an iosignal WebSocket within its cap takes one more message.
  const BUDGET = 32 * KiB + 64 * KiB;
  const suite = suiteServer({ maxMessageSize: 64 * KiB, maxBackpressure: 8 * KiB, maxBacklog: 64 * KiB, slowConsumer: 'drop' });

  it('a frame past the soft limit + one message but within the hard cap + one message is sent', async () => {
    const { server, devices } = suite;
    const { device } = await devices.json(server.wsPort!, 'cap');
    await plainSubscribed(server, 'cap', 1);
    const before = server.metrics();
    server.sendSignal('cap', PAYLOAD.TEXT, controlText(63 * KiB + 900));
    const frame = await device.next();
    assert.ok(frame.data.length > 4 * KiB + 64 * KiB && frame.data.length <= BUDGET, `a ${frame.data.length}-byte frame`);
    assert.equal(Buffer.from(String((JSON.parse(frame.data.toString()) as Record<string, unknown>).payload), 'base64').length, 63 * KiB + 900);
    assert.equal(server.metrics().drops - before.drops, 0);
  });

  it('a paused JSON device holds at most the hard cap + one message', async () => {
    const { most, dropped } = await pausedFlood(suite, 'capflood', 40);
    assert.ok(most <= BUDGET, `held ${most} bytes; the budget is ${BUDGET}`);
    assert.ok(dropped >= 30, 'the rest were dropped and counted');
  });
});

describe('what a plain device may publish (issue 16 item 5, incoming)', () => {
  const pool = new ClientPool();
  const devices = new DevicePool();
  afterEach(async () => {
    devices.closeAll();
    await pool.closeAll();
  });

  async function listener(server: IosigServer, tags: string): Promise<RawClient> {
    const c = await pool.ready('cong', server.congPort!);
    c.send(sub(tags));
    await c.sync();
    return c;
  }

  it('one frame publishes at most --max-message bytes in all (payload × channels)', async () => {
    const server = await startServer({ maxMessageSize: 64 * KiB });
    try {
      const app = await listener(server, 'a,b,c,d');
      const raw = await devices.open(server.wsPort!, '/plain/a,b,c,d');
      const { device: json } = await devices.json(server.wsPort!, 'a,b,c,d');
      await plainSubscribed(server, 'd', 3);
      const bad = server.metrics().badMessages;
      raw.sendBinary(Buffer.alloc(20 * KiB, 7)); // 4 × 20 KiB = 80 KiB: refused whole
      json.sendText(JSON.stringify({ payload: 'y'.repeat(17 * KiB) })); // 4 × 17 KiB + NUL: refused, with the reason
      const error = await json.nextJson();
      assert.equal(error.type, 'ERROR');
      assert.match(String(error.error), /at most 65536 per frame/);
      await assertQuiet(app);
      assert.equal(server.metrics().badMessages - bad, 2);
      const fits = Buffer.alloc(16 * KiB, 8); // 4 × 16 KiB = 64 KiB: published on every channel
      raw.sendBinary(fits);
      for (const tag of ['a', 'b', 'c', 'd']) assert.equal(hex(await app.next(3000)), hex(encodeSignal(tag, PAYLOAD.BINARY, fits)));
    } finally {
      await server.close();
    }
  });

  it('a burst of 20 000 frames on 16 channels is published in turns, all of it, in order', async () => {
    const server = await startServer();
    try {
      const channels = Array.from({ length: 16 }, (_, i) => `c${i}`);
      const app = await listener(server, 'c15');
      const device = await devices.open(server.wsPort!, `/plain/${channels.join(',')}`);
      await plainSubscribed(server, 'c15', 2);
      for (let i = 0; i < 20_000; i++) device.sendText(String(i));
      for (let i = 0; i < 20_000; i++) assert.equal(hex(await app.next(5000)), hex(encodeSignal('c15', PAYLOAD.TEXT, Buffer.from(`${i}\0`))));
    } finally {
      await server.close();
    }
  });

  it(`a device's frames publish at most ${SIGNALS_PER_TURN} signals per event-loop turn; a flood of waiting frames closes it`, async () => {
    const server = await startServer({ maxMessageSize: 64 * KiB });
    try {
      const channels = Array.from({ length: 16 }, (_, i) => `c${i}`);
      const socket = new StandInSocket();
      const link = serverOf(server).connectPlain(socket, { channels, format: 'raw' });
      socket.link = link;
      const before = server.metrics().messagesIn;
      // One read's worth of frames, handed over in one go as uWS does.
      for (let i = 0; i < 1000; i++) link.fromDevice(Buffer.from(`${i}`), false);
      const now = server.metrics().messagesIn - before;
      assert.ok(now <= SIGNALS_PER_TURN + 16, `${now} signals in the first turn`);
      await waitFor(() => server.metrics().messagesIn - before === 16_000, 3000, 'every frame published in later turns');
      // More than --max-message bytes of frames waiting: flooding.
      for (let i = 0; i < 200; i++) link.fromDevice(Buffer.alloc(1024, 0x61), false);
      assert.match(socket.ended ?? '', /^flooding: /);
    } finally {
      await server.close();
    }
  });

  it('the rate quota judges a frame once, against all the messages it stands for', async () => {
    // Level 0: 10 000 bytes/s with a one-second burst; the clock stands still, so nothing refills.
    const server = await startServer({ clock: new ManualClock(), useQuota: { trafficRate: true }, defaultQuotaLevel: 0 });
    try {
      const channels = Array.from({ length: 16 }, (_, i) => `c${i}`);
      const app = await listener(server, 'c0,c15');
      const device = await devices.open(server.wsPort!, `/plain/${channels.join(',')}`);
      await plainSubscribed(server, 'c15', 2);
      const violations = server.metrics().quotaViolations;
      device.sendText('x'.repeat(1000)); // 16 messages of about 1006 bytes: over the burst, so none goes out
      device.sendText('y'.repeat(500)); // 16 × about 506 bytes: within what is left, so all go out
      assert.equal(hex(await app.next(3000)), hex(encodeSignal('c0', PAYLOAD.TEXT, Buffer.from(`${'y'.repeat(500)}\0`))));
      assert.equal(hex(await app.next(3000)), hex(encodeSignal('c15', PAYLOAD.TEXT, Buffer.from(`${'y'.repeat(500)}\0`))));
      assert.equal(server.metrics().quotaViolations - violations, 1, 'one frame, one violation');
    } finally {
      await server.close();
    }
  });
});
