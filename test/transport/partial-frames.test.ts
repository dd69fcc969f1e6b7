// Large CongSocket frames still arriving are bounded together, not only one by one (issue 16, memory bounds): a
// frame's body is allocated when its header arrives, so connections that each announce a big frame and never
// finish it held memory without limit. Now one client address holds at most its share of --max-inbound-total and
// all of them the total; a header past either closes its connection, and the others carry on.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { ClientPool, type RawClient } from '../kit/raw-client.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { MSG, PAYLOAD } from '../../src/protocol/codes.js';
import { encodeFrame } from '../../src/protocol/congsocket.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import { sub } from '../kit/messages.js';
import { waitFor } from '../kit/wait.js';

const KIB = 1024;
/** 1 MiB in all: an address may hold a quarter of it or one message (600 KiB), whichever is more. */
const TOTAL = 1024 * KIB;
const MESSAGE = 600 * KIB;
const BODY = 400 * KIB;

/** A SIGNAL on `tag` whose frame is BODY bytes long, cut before its last `missing` bytes. */
function bigSignal(tag: string): Buffer {
  const frame = encodeFrame(encodeSignal(tag, PAYLOAD.BINARY, Buffer.alloc(BODY - tag.length - 8, 0x41)));
  return Buffer.from(frame);
}

describe('large CongSocket frames still arriving share one budget (--max-inbound-total)', () => {
  let server: IosigServer;
  const lines: string[] = [];
  const pool = new ClientPool();

  before(async () => {
    server = await startServer({ maxInboundTotal: TOTAL, maxMessageSize: MESSAGE }, lines);
  });
  afterEach(() => pool.closeAll());
  after(() => server.close());

  /** A connection from `localAddress` that sent all of `frame` but its last 10 bytes (no sync: it is mid-frame). */
  async function holding(frame: Buffer, localAddress: string): Promise<RawClient> {
    const c = await pool.ready('cong', portOf(server, 'cong'), { localAddress });
    c.sendRaw(frame.subarray(0, frame.length - 10));
    return c;
  }
  const held = (): number => server.metrics().inboundPartialBytes;
  const refused = (): number => server.metrics().inboundRefused;

  it('closes a connection whose frame would pass its address share or the total; the others finish theirs', async () => {
    const receiver = await pool.ready('cong', portOf(server, 'cong'), { localAddress: '127.0.0.9' });
    receiver.send(sub('big'));
    await receiver.sync();
    const frame = bigSignal('big');

    const first = await holding(frame, '127.0.0.2');
    await waitFor(() => held() === frame.length - (frame[0]! + 1), 5000, 'the first body counted');
    // The same address again: 800 KiB would pass its share (600 KiB).
    const second = await holding(frame, '127.0.0.2');
    await second.waitClosed(5000);
    // Another address: its own share, and 800 KiB in all is within the total.
    const third = await holding(frame, '127.0.0.3');
    await waitFor(() => held() === 2 * (frame.length - (frame[0]! + 1)), 5000, 'the third body counted');
    // A third address: 1200 KiB in all would pass the total.
    const fourth = await holding(frame, '127.0.0.4');
    await fourth.waitClosed(5000);
    assert.equal(refused(), 2, 'two refusals counted');
    assert.ok(lines.some((line) => /would pass what large frames still arriving may hold \(614400 bytes per address, 1048576 in all\)/.test(line)), 'the reason is logged');

    // The connections that held their place finish their frames, which are delivered; their places come back.
    first.sendRaw(frame.subarray(frame.length - 10));
    third.sendRaw(frame.subarray(frame.length - 10));
    const got = [await receiver.next(5000), await receiver.next(5000)];
    for (const msg of got) assert.equal(msg[0], MSG.SIGNAL);
    assert.equal(first.closed || third.closed, false, 'the connections within the budget are open');
    await waitFor(() => held() === 0, 5000, 'both bodies given back');
    const fifth = await holding(frame, '127.0.0.4');
    await waitFor(() => held() === frame.length - (frame[0]! + 1), 5000, 'a body counted again');
    assert.equal(fifth.closed, false, 'the budget is free again');
    assert.equal(refused(), 2);
  });
});
