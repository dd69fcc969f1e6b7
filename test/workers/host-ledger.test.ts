// The host ledger of `io-server --workers` in one process: two servers play two workers, each linked to one
// HostLedger (the primary's) over an in-memory IPC pipe, with real sockets on 127.0.0.1. The rules the process
// tests (test/cluster/workers*.test.ts) check end to end are pinned here at their edges: what a dead worker gives
// back, a stray or late message, a primary that does not answer (fail closed), and the bounds of the ledger.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HostLedger, OPEN_TICKETS_PER_WORKER } from '../../src/workers/host-ledger.js';
import { Asker, IpcPort, UNANSWERED, memoryPipe, type IpcEndpoint, type MemoryPipe } from '../../src/workers/ipc.js';
import { PrimaryLink } from '../../src/workers/primary-link.js';
import { DEFAULT_LOGIN_LIMITS, resolveLoginLimits } from '../../src/guard/login-guard.js';
import { ClientPool, type RawClient } from '../kit/raw-client.js';
import { startServer, type IosigServer } from '../kit/server.js';
import { Peer, openPeer } from '../kit/peer.js';
import { getsIn } from '../kit/gets-in.js';
import { waitFor } from '../kit/wait.js';
import { inside } from '../kit/inside.js';
import { PING, PONG } from '../kit/messages.js';
import WebSocket from 'ws';

const limits = (perAddress: number, global = 0) => ({
  connections: { maxConnections: global, maxConnectionsPerAddress: perAddress },
  logins: resolveLoginLimits({}),
});

/** Holds what `end` sends until release() (a primary whose answers come late). */
function holdSends(end: IpcEndpoint): { held: () => number; release: () => void } {
  const send = end.send;
  const held: Array<() => void> = [];
  end.send = (message) => {
    held.push(() => send(message));
    return true;
  };
  return {
    held: () => held.length,
    release: () => {
      end.send = send;
      for (const deliver of held.splice(0)) deliver();
    },
  };
}

/** One worker's link to `ledger` over an in-memory pipe. */
function link(ledger: HostLedger, id: number, ask = { timeoutMs: 2000, inFlight: 64 }): { primary: PrimaryLink; pipe: MemoryPipe } {
  const pipe = memoryPipe();
  ledger.attach(id, new IpcPort(pipe.primary));
  return { primary: new PrimaryLink(pipe.worker, ask), pipe };
}

describe('host ledger: the books of each worker', () => {
  it('counts places per worker, ignores a give for a place the worker does not hold, and frees a dead worker\'s places', () => {
    const ledger = new HostLedger(limits(2, 3));
    assert.equal(ledger.answer(1, { op: 'take', ip: '10.0.0.1' }), null);
    assert.equal(ledger.answer(2, { op: 'take', ip: '10.0.0.1' }), null);
    assert.equal(ledger.answer(2, { op: 'take', ip: '10.0.0.1' }), 'address', 'the per-address cap holds over both workers');
    assert.equal(ledger.answer(2, { op: 'take', ip: '10.0.0.2' }), null);
    assert.equal(ledger.answer(1, { op: 'take', ip: '10.0.0.3' }), 'global', 'the global cap holds over both workers');
    ledger.told(1, { op: 'give', ip: '10.0.0.2' });
    assert.equal(ledger.placesHeld, 3, 'worker 1 holds no place for 10.0.0.2: its give frees nothing');
    ledger.workerGone(2);
    assert.equal(ledger.placesHeld, 1);
    assert.equal(ledger.answer(1, { op: 'take', ip: '10.0.0.1' }), null, 'worker 2\'s places came back');
  });

  it('keeps one login throttle for all workers and ends a dead worker\'s open attempts', () => {
    const ledger = new HostLedger({ connections: limits(0).connections, logins: resolveLoginLimits({ addressBurst: 3, pendingPerAddress: 2 }) });
    const first = ledger.answer(1, { op: 'login', ip: '10.0.0.9', device: 'a' });
    const second = ledger.answer(2, { op: 'login', ip: '10.0.0.9', device: 'b' });
    assert.equal(typeof first, 'number');
    assert.equal(typeof second, 'number');
    assert.equal(ledger.answer(1, { op: 'login', ip: '10.0.0.9', device: 'c' }), 'pending_cap', 'two undecided over both workers');
    ledger.told(1, { op: 'end', ticket: first as number, accepted: false });
    ledger.told(2, { op: 'end', ticket: first as number, accepted: true });
    assert.equal(ledger.openTickets, 1, 'a worker cannot end another worker\'s ticket');
    ledger.workerGone(2);
    assert.equal(ledger.openTickets, 0);
    assert.equal(typeof ledger.answer(1, { op: 'login', ip: '10.0.0.9', device: 'd' }), 'number', 'the third token of the burst');
    assert.equal(ledger.answer(1, { op: 'login', ip: '10.0.0.9', device: 'e' }), 'throttled_address', 'failed attempts keep their tokens');
  });

  it('bounds the open attempts of one worker', () => {
    const ledger = new HostLedger({
      connections: limits(0).connections,
      logins: resolveLoginLimits({ addressBurst: 1e9, deviceBurst: 1e9, pendingPerAddress: 1e9 }),
    });
    for (let i = 0; i < OPEN_TICKETS_PER_WORKER; i++) ledger.answer(1, { op: 'login', ip: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, device: 'x' });
    assert.equal(ledger.answer(1, { op: 'login', ip: '10.200.0.1', device: 'x' }), 'pending_cap');
    assert.equal(typeof ledger.answer(2, { op: 'login', ip: '10.200.0.1', device: 'x' }), 'number', 'another worker has its own bound');
  });
});

describe('IPC asks: bounded, timed out, late answers given back', () => {
  it('resolves UNANSWERED after the time-out, hands a late answer to `late`, and refuses beyond the bound at once', async () => {
    const pipe = memoryPipe();
    // A primary whose answers are held back (a stalled event loop), then delivered.
    new IpcPort(pipe.primary).onAsk('t', () => 'answer');
    const answers = holdSends(pipe.primary);
    const late: number[] = [];
    const asker = new Asker<number, string>(new IpcPort(pipe.worker), 't', { timeoutMs: 100, inFlight: 2 }, (q) => void late.push(q));
    const a = asker.ask(1);
    const b = asker.ask(2);
    assert.equal(await asker.ask(3), UNANSWERED, 'over the in-flight bound: refused at once');
    assert.equal(await a, UNANSWERED);
    assert.equal(await b, UNANSWERED);
    assert.equal(asker.inFlight, 2, 'timed-out asks stay counted until their answer');
    await waitFor(() => answers.held() === 2, 1000, 'the answers');
    answers.release();
    await waitFor(() => late.length === 2, 1000, 'the late answers');
    assert.deepEqual(late, [1, 2], 'late answers go to `late`');
    assert.equal(asker.inFlight, 0);
    pipe.close();
    assert.equal(await asker.ask(4), UNANSWERED, 'a closed pipe answers nothing');
  });

  it('gives back a place and a login the primary granted after the worker gave up', async () => {
    const ledger = new HostLedger(limits(1));
    const pipe = memoryPipe();
    ledger.attach(1, new IpcPort(pipe.primary));
    // The primary answers, but only after the worker's 50 ms time-out.
    const answers = holdSends(pipe.primary);
    const worker = new PrimaryLink(pipe.worker, { timeoutMs: 50, inFlight: 8 });
    assert.equal(await worker.take('10.0.0.1'), 'primary_unavailable');
    assert.equal(await worker.begin('10.0.0.1', 'dev'), 'primary_unavailable');
    assert.equal(ledger.placesHeld, 1);
    assert.equal(ledger.openTickets, 1);
    answers.release();
    await waitFor(() => ledger.placesHeld === 0 && ledger.openTickets === 0, 1000, 'the worker to give them back');
    const tokens = ledger.answer(2, { op: 'login', ip: '10.0.0.1', device: 'dev' });
    assert.equal(typeof tokens, 'number', 'the late login took no token for good');
    worker.close();
    pipe.close();
  });
});

describe('two servers on one host ledger (two workers in one process)', () => {
  const ledger = new HostLedger({ connections: { maxConnections: 0, maxConnectionsPerAddress: 3 }, logins: resolveLoginLimits({}) });
  const links: Array<{ primary: PrimaryLink; pipe: MemoryPipe }> = [];
  let one: IosigServer;
  let two: IosigServer;
  const pool = new ClientPool();
  const kept: RawClient[] = [];

  before(async () => {
    links.push(link(ledger, 1), link(ledger, 2));
    one = await startServer({ primary: links[0]!.primary, auth: { param: 'd1.k1.D1.3' }, authFailDelay: 10 });
    two = await startServer({ primary: links[1]!.primary, auth: { param: 'd1.k1.D1.3' }, authFailDelay: 10 });
  });
  afterEach(async () => {
    await pool.closeAll();
    await Promise.all(kept.splice(0).map((c) => c.close(300)));
  });
  after(async () => {
    await Promise.all([one.close(), two.close()]);
    for (const l of links) l.pipe.close();
  });

  it('answers a client that sends at once after an upgrade the primary answered, and keeps its socket open', async () => {
    // The upgrade waits for the ledger, so the connection is made a turn after `open` (transport/ws.ts openLater);
    // made inside the upgrade's cork, uWS.js 20.30 could shut the socket (code 1006) after its first write.
    const got: Buffer[] = [];
    const client = new WebSocket(`ws://127.0.0.1:${one.wsPort}`, { localAddress: '127.0.0.6' });
    client.on('message', (data: Buffer) => got.push(data));
    let closeCode = 0;
    client.on('close', (code) => {
      closeCode = code;
    });
    client.on('open', () => {
      for (let i = 0; i < 3; i++) client.send(PING);
    });
    await waitFor(() => got.filter((m) => m.equals(PONG)).length === 3 || closeCode !== 0, 3000, 'three PONGs');
    assert.equal(closeCode, 0, 'the socket stays open');
    assert.equal(got.filter((m) => m.equals(PONG)).length, 3, 'each PING sent before the connection existed is answered');
    client.close();
  });

  it('shares the per-address cap over both servers and both transports', async () => {
    const results: boolean[] = [];
    for (const [server, kind] of [[one, 'ws'], [two, 'cong'], [one, 'cong'], [two, 'ws'], [one, 'ws']] as const) {
      results.push(await getsIn(kind, kind === 'ws' ? server.wsPort! : server.congPort!, '127.0.0.7', kept));
    }
    assert.deepEqual(results, [true, true, true, false, false]);
    assert.equal(inside(one).stats.refusedAddress + inside(two).stats.refusedAddress, 2);
    // One leaves: one place comes back, on either server.
    await kept.find((c) => !c.closed)!.close(300);
    await waitFor(() => ledger.placesHeld === 2, 2000, 'the give');
    assert.equal(await getsIn('ws', two.wsPort!, '127.0.0.7', kept), true);
  });

  it('shares the login throttle: the address burst holds over both servers', async () => {
    for (let i = 0; i < 2 * DEFAULT_LOGIN_LIMITS.addressBurst + 4; i++) {
      const server = i % 2 ? one : two;
      const peer = await openPeer(pool, server, i % 4 < 2 ? 'ws' : 'cong', { localAddress: '127.0.0.8' });
      peer.wire.send(peer.authReq(`nobody${i}`, 'x'));
      assert.equal((await peer.wire.next(2000)).toString('hex'), 'b3');
      // The per-address cap (3) holds too: each guesser leaves before the next comes.
      await pool.closeAll();
      await waitFor(() => ledger.placesHeld === 0, 2000, 'the place to be given back');
    }
    const checked = inside(one).stats.authFailByReason.unknown_id + inside(two).stats.authFailByReason.unknown_id;
    const throttled = inside(one).stats.authFailByReason.throttled_address + inside(two).stats.authFailByReason.throttled_address;
    assert.ok(checked <= DEFAULT_LOGIN_LIMITS.addressBurst + 1, `${checked} key checks over two servers`);
    assert.ok(throttled >= DEFAULT_LOGIN_LIMITS.addressBurst + 3, `${throttled} throttled`);
    const peer = await openPeer(pool, two, 'cong', { localAddress: '127.0.0.9' });
    peer.wire.send(peer.authReq('d1', 'k1'));
    assert.equal(await peer.expectAuthOk(), 3, 'another address logs in');
  });
});

describe('a primary that does not answer: connections and logins fail closed', () => {
  const pipe = memoryPipe();
  let server: IosigServer;
  const pool = new ClientPool();
  const kept: RawClient[] = [];
  const lines: string[] = [];

  before(async () => {
    // Nobody answers on the primary's end of the pipe.
    const primary = new PrimaryLink(pipe.worker, { timeoutMs: 150, inFlight: 8 });
    server = await startServer({ primary, auth: { param: 'd1.k1.D1.3' }, authFailDelay: 10, log: (line) => void lines.push(line) });
  });
  after(async () => {
    await pool.closeAll();
    await Promise.all(kept.splice(0).map((c) => c.close(300)));
    await server.close();
    pipe.close();
  });

  it('refuses connections on both transports after the time-out, counted and logged', async () => {
    const started = Date.now();
    assert.equal(await getsIn('ws', server.wsPort!, '127.0.0.1', kept), false);
    assert.equal(await getsIn('cong', server.congPort!, '127.0.0.1', kept), false);
    assert.ok(Date.now() - started >= 250, 'each waited for the time-out');
    assert.equal(inside(server).stats.refusedPrimaryUnavailable, 2);
    assert.ok(lines.some((line) => /the primary process did not answer in time/.test(line)), lines.join('\n'));
  });

  it('refuses a login without a key check when the throttle does not answer', async () => {
    // A socket cannot get in without the primary; this connection comes over the in-memory link (no admission).
    const p = new Peer(await pool.open('cong', { memory: server }));
    await p.greet();
    p.wire.send(p.authReq('d1', 'k1'));
    assert.equal((await p.wire.next(2000)).toString('hex'), 'b3');
    assert.equal(inside(server).stats.authFailByReason.primary_unavailable, 1);
    assert.equal(inside(server).stats.authFailByReason.wrong_key + inside(server).stats.authOk, 0, 'no key was checked');
  });
});
