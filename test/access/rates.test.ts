// Issue 18 item 4: the rates an operator sets, over real sockets — an ACL `rate` line and `--level-rate` bound what
// a connection may send (messages and bytes, on a manual clock), and `--conn-rate` bounds new connections per
// listener (refused as the connection caps refuse, counted per listener).
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import type { IosigServer } from '../../src/index.js';
import { MSG } from '../../src/protocol/codes.js';
import { parseRate, parseTrafficRates } from '../../src/guard/rate-spec.js';
import { ClientPool, connectRaw } from '../kit/raw-client.js';
import { startServer } from '../kit/server.js';
import { assertQuiet, sub, text } from '../kit/messages.js';
import { ManualClock } from '../kit/manual-clock.js';
import { waitFor } from '../kit/wait.js';

const WATCHER = '127.0.0.2';

describe('rates an operator sets (issue 18 item 4)', () => {
  const pool = new ClientPool();
  const servers: IosigServer[] = [];
  afterEach(async () => {
    await pool.closeAll();
    for (const s of servers.splice(0)) await s.close();
  });
  after(() => pool.closeAll());

  async function received(server: IosigServer, clock: ManualClock, sends: number, tag = 'r'): Promise<number> {
    const watcher = await pool.ready('cong', server.congPort!, { localAddress: WATCHER });
    watcher.send(sub(tag));
    await watcher.sync();
    const c = await pool.ready('ws', server.wsPort!);
    // Not c.sync(): its ECHO would count against the rate too. The server has read them all once messagesIn says so.
    const before = server.metrics().messagesIn;
    for (let i = 0; i < sends; i++) c.send(text(tag, `m${i}`));
    await waitFor(() => server.metrics().messagesIn >= before + sends, 2000, 'the messages to be read');
    const got = (await watcher.sync()).filter((m) => m[0] === MSG.SIGNAL).length;
    clock.advance(1000);
    return got;
  }

  it('an ACL rate line: a message rate with its burst; beyond it messages are dropped and counted', async () => {
    const clock = new ManualClock(Date.now());
    const server = await startServer({
      clock,
      useQuota: { trafficRate: true },
      access: { aclText: `allow any all *\nrate address:127.0.0.1 2msg/s:3` },
    });
    servers.push(server);
    // CID_REQ took one of the burst of 3: two signals pass, three are dropped.
    assert.equal(await received(server, clock, 5), 2);
    assert.equal(server.metrics().quotaViolations, 3);
  });

  /** A server with `--level-rate 3=<level3>`; the watcher (127.0.0.2) passes by a rate line of its own, which wins. */
  async function rated(clock: ManualClock, level3: string, moreRules = ''): Promise<IosigServer> {
    const aclText = `allow any all *\nrate address:${WATCHER} 1000msg/s\n${moreRules}`;
    const server = await startServer({ clock, useQuota: { trafficRate: true }, access: { levelRates: new Map([[3, parseTrafficRates(level3)]]), aclText } });
    servers.push(server);
    return server;
  }

  it('--level-rate sets the rates of a level; an ACL rate line wins over it', async () => {
    const clock = new ManualClock(Date.now());
    assert.equal(await received(await rated(clock, '1msg/s:3'), clock, 4), 2);
    assert.equal(await received(await rated(clock, '1msg/s:3', 'rate address:127.0.0.1 10msg/s:5'), clock, 6), 4);
  });

  it('a byte rate drops a message that does not fit what is left of the burst', async () => {
    const clock = new ManualClock(Date.now());
    const server = await rated(clock, '100B/s:100B');
    const watcher = await pool.ready('cong', server.congPort!, { localAddress: WATCHER });
    watcher.send(sub('b'));
    await watcher.sync();
    const c = await pool.ready('cong', server.congPort!);
    c.send(text('b', 'x'.repeat(60)));
    c.send(text('b', 'y'.repeat(60)));
    await c.sync();
    assert.equal((await watcher.sync()).filter((m) => m[0] === MSG.SIGNAL).length, 1);
    await assertQuiet(watcher);
  });

  it('--conn-rate: new connections past a listener rate are refused at once and counted', async () => {
    const clock = new ManualClock(Date.now());
    const server = await startServer({ clock, access: { connectionRates: { cong: parseRate('1/s:2'), ws: parseRate('1/s:1') } } });
    servers.push(server);
    await pool.ready('cong', server.congPort!);
    await pool.ready('cong', server.congPort!);
    const third = await connectRaw('cong', server.congPort!);
    await third.waitClosed(2000);
    await pool.ready('ws', server.wsPort!);
    await assert.rejects(connectRaw('ws', server.wsPort!), /503|Unexpected server response/);
    const m = server.metrics();
    assert.equal(m.refusedRateCong, 1);
    assert.equal(m.refusedRateWs, 1);
    clock.advance(1000);
    await pool.ready('cong', server.congPort!);
  });
});
