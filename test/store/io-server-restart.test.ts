// Durability of a real io-server process (issue 20 item 4): it is started with --data-dir, fed retained updates,
// CID-retained updates of a logged-in device and signals on a history channel over real sockets, killed with
// SIGKILL in the middle of that traffic (or stopped with SIGTERM), and started again on the same directory.
// What a positioned reader was shown (SIGNAL_AT is sent only once durable) bounds from below what must be back.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { watchChild, type WatchedChild } from '../kit/child-output.js';
import { ClientPool, type RawClient } from '../kit/raw-client.js';
import { CHILD_PROCESS_DEADLINE_MS } from '../kit/wait.js';
import { sub, text } from '../kit/messages.js';
import { MSG } from '../../src/protocol/codes.js';
import { decodeResponseMbp, encodeCall } from '../../src/protocol/rpc.js';
import { decodeSignalAt, SIGNAL_AT } from '../../src/history/signal-at.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'bin', 'io-server.js');
const WS_LOCAL = /- Local: +ws:\/\/localhost:(\d+)/;
const DEVICE = ['-e', 'dev.keyd.DEV.3'];
const BEARER = { headers: { Authorization: 'Bearer dev.keyd' }, autoPong: true };

interface Running {
  child: ChildProcess;
  out: WatchedChild;
  port: number;
}

const children = new Set<ChildProcess>();
const dirs: string[] = [];
const pool = new ClientPool();

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'iosig-restart-'));
  dirs.push(dir);
  return dir;
}

function spawnServer(args: string[]): { child: ChildProcess; out: WatchedChild } {
  const child = spawn(process.execPath, [BIN, '-l', '0', '--host', '127.0.0.1', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  return { child, out: watchChild(child) };
}

async function start(args: string[]): Promise<Running> {
  const { child, out } = spawnServer(args);
  const match = await out.until(() => {
    const ended = out.exit();
    if (ended) throw new Error(`io-server exited (${ended.code ?? ended.signal})\n${out.out()}\n${out.err()}`);
    return (out.out() + out.err()).match(WS_LOCAL) ?? undefined;
  }, 'the banner', CHILD_PROCESS_DEADLINE_MS);
  return { child, out, port: Number(match[1]) };
}

async function exitOf(server: Running, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  server.child.kill(signal);
  return server.out.until(() => server.out.exit(), 'the exit of io-server', CHILD_PROCESS_DEADLINE_MS);
}

let mid = 0;
async function call(c: RawClient, target: string, topic: string, ...args: unknown[]): Promise<{ status: number; body?: unknown; before: Buffer[] }> {
  const id = ++mid;
  c.send(encodeCall(id, target, topic, ...args));
  const before: Buffer[] = [];
  for (;;) {
    const msg = await c.next(5000);
    const reply = msg[0] === MSG.RESPONSE_MBP ? decodeResponseMbp(msg) : null;
    if (reply && reply.mid === id) return { status: reply.status, body: reply.body, before };
    before.push(msg);
  }
}

/** The text payload of a SIGNAL (without its NUL). */
function payloadText(signal: Buffer): string {
  const tagLength = signal[1]!;
  return signal.subarray(3 + tagLength).toString('utf8').replace(/\0$/, '');
}

/** Positioned deliveries a reader got: epoch, offsets and the payloads in order. */
class Positions {
  epoch = '';
  readonly offsets: number[] = [];
  readonly values: string[] = [];

  take(msg: Buffer): boolean {
    if (msg[0] !== SIGNAL_AT) return false;
    const at = decodeSignalAt(msg);
    assert.ok(at, 'a well-formed SIGNAL_AT');
    if (this.epoch === '') this.epoch = at.epoch;
    assert.equal(at.epoch, this.epoch, 'one epoch');
    this.offsets.push(at.offset);
    this.values.push(payloadText(at.signal));
    return true;
  }

  get last(): number {
    return this.offsets.length > 0 ? this.offsets[this.offsets.length - 1]! : 0;
  }

  /** The largest n such that `${prefix}${n}` was shown. */
  lastOf(prefix: string): number {
    let n = 0;
    for (const v of this.values) if (v.startsWith(prefix)) n = Math.max(n, Number(v.slice(prefix.length)));
    return n;
  }
}

/** The retained value a fresh subscriber of `tag` gets. */
async function retainedOf(port: number, tag: string): Promise<string> {
  const c = await pool.ready('ws', port);
  c.send(sub(tag));
  const got = await c.sync();
  await c.close();
  assert.equal(got.length, 1, `one retained value for ${tag}, got ${got.length}`);
  return payloadText(got[0]!);
}

async function loggedInDevice(port: number): Promise<RawClient> {
  const device = await pool.open('ws', port, BEARER);
  await device.nextOfType(MSG.QUOTA_LEVEL, 6000);
  return device;
}

function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
}

describe('io-server --data-dir: restart and crash', () => {
  afterEach(async () => {
    await pool.closeAll();
    killAll();
  });
  after(() => {
    killAll();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('SIGKILL in the middle of traffic: every flushed retained and CID-retained value is back, a positioned reader recovers exactly', async () => {
    const dir = tempDir();
    const args = ['--data-dir', dir, '--history', 'chat/#=100000', ...DEVICE];
    const first = await start(args);
    const reader = await pool.ready('ws', first.port);
    assert.equal((await call(reader, 'history', 'subscribe', 'chat/x')).status, 0);
    const device = await loggedInDevice(first.port);
    const publisher = await pool.ready('ws', first.port);
    const shown = new Positions();

    // Traffic until the reader has seen a few hundred durable signals, then the kill, with traffic still going.
    let k = 0;
    let sending = true;
    const feed = (): void => {
      if (!sending) return;
      for (let i = 0; i < 20; i++) {
        k++;
        publisher.send(text('status$', String(k)));
        publisher.send(text(`r${k % 10}$`, String(k)));
        publisher.send(text('chat/x', `p${k}`));
        device.send(text('@$state', `on-${k}`));
        device.send(text('chat/x', `d${k}`));
      }
      setTimeout(feed, 2);
    };
    feed();
    while (shown.lastOf('p') < 400) shown.take(await reader.next(5000));
    const killed = await exitOf(first, 'SIGKILL');
    sending = false;
    assert.equal(killed.signal, 'SIGKILL');
    // Whatever was already on the reader's socket was durable too.
    for (;;) {
      const more = await reader.next(200).catch(() => null);
      if (!more) break;
      shown.take(more);
    }
    await pool.closeAll();
    const lastP = shown.lastOf('p');
    const lastD = shown.lastOf('d');
    assert.ok(lastP >= 400 && k > lastP, `killed mid-traffic: ${lastP} shown durable of ${k} sent`);

    const second = await start(args);
    assert.match(second.out.out(), /unclean stop/, 'the start says the last run did not close the store');
    // Retained: at least what was durable when the reader was shown p<lastP>, in whole turns.
    const status = Number(await retainedOf(second.port, 'status$'));
    assert.ok(status >= lastP, `status$ is ${status}, ${lastP} was durable`);
    for (let i = 0; i < 10; i++) {
      const v = Number(await retainedOf(second.port, `r${i}$`));
      assert.equal(v % 10, i);
      assert.ok(v >= lastP - 10, `r${i}$ is ${v}, ${lastP} was durable`);
    }
    // CID-retained: back once the device logs in again.
    await loggedInDevice(second.port);
    const state = await retainedOf(second.port, 'DEV@$state');
    assert.ok(Number(state.slice(3)) >= lastD, `DEV's $state is ${state}, on-${lastD} was durable`);

    // The reader comes back with its position: exactly the signals after it, then the answer.
    const back = await pool.ready('ws', second.port);
    const answer = await call(back, 'history', 'subscribe', 'chat/x', shown.epoch, String(shown.last));
    assert.equal(answer.status, 0, `recovered: ${JSON.stringify(answer.body)}`);
    const recovered = new Positions();
    recovered.epoch = shown.epoch;
    for (const msg of answer.before) assert.ok(recovered.take(msg), 'only positioned deliveries before the answer');
    const all = [...shown.offsets, ...recovered.offsets];
    all.forEach((offset, i) => {
      assert.equal(offset, i + 1, 'offsets 1, 2, 3 … with no gap and no duplicate');
    });
    assert.deepEqual(answer.body, { epoch: shown.epoch, offset: all.length });
    // Per publisher, its signals in order with nothing missing, up to what was durable at the kill at least.
    const values = [...shown.values, ...recovered.values];
    const ps = values.filter((v) => v.startsWith('p')).map((v) => Number(v.slice(1)));
    ps.forEach((n, i) => {
      assert.equal(n, i + 1, "the publisher's signals in order, none missing");
    });
    assert.ok(ps.length >= lastP);
    await exitOf(second, 'SIGTERM');
  });

  it('SIGTERM flushes and marks the store clean: the last values are back, CID-retained values of the devices it closed too', async () => {
    const dir = tempDir();
    const args = ['--data-dir', dir, ...DEVICE];
    const first = await start(args);
    const device = await loggedInDevice(first.port);
    const publisher = await pool.ready('ws', first.port);
    const watcher = await pool.ready('ws', first.port);
    watcher.send(sub('last$'));
    await watcher.sync();
    for (let i = 1; i <= 500; i++) publisher.send(text('last$', String(i)));
    device.send(text('@$mode', 'auto'));
    await device.sync();
    // The server has routed the last one: stop at once, with nothing waited for.
    for (;;) if (payloadText(await watcher.next(5000)) === '500') break;
    const stopped = await exitOf(first, 'SIGTERM');
    assert.equal(stopped.code, 0);
    await pool.closeAll();

    const second = await start(args);
    assert.match(second.out.out(), /read back after a clean shutdown/);
    assert.equal(await retainedOf(second.port, 'last$'), '500');
    await loggedInDevice(second.port);
    assert.equal(await retainedOf(second.port, 'DEV@$mode'), 'auto', 'a shutdown is not the device closing: its values stay');
    await exitOf(second, 'SIGTERM');
  });

  it('a device that closes while the server runs loses its CID-retained values, in the store too (Q25 unchanged)', async () => {
    const dir = tempDir();
    const args = ['--data-dir', dir, ...DEVICE];
    const first = await start(args);
    const device = await loggedInDevice(first.port);
    device.send(text('@$mode', 'auto'));
    await device.sync();
    await device.close();
    const check = await pool.ready('ws', first.port);
    await check.sync();
    await exitOf(first, 'SIGTERM');
    await pool.closeAll();
    const second = await start(args);
    await loggedInDevice(second.port);
    const c = await pool.ready('ws', second.port);
    c.send(sub('DEV@$mode'));
    const got = (await c.sync()).filter((m) => m[0] === MSG.SIGNAL);
    assert.deepEqual(got, [], 'no value for a device that had closed');
    await exitOf(second, 'SIGTERM');
  });

  it('a damaged store stops the start with exit 2, the file and the way out; nothing is changed', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'iosig.mdb'), Buffer.alloc(65536, 0x5a));
    const { out } = spawnServer(['--data-dir', dir]);
    const ended = await out.until(() => out.exit(), 'the exit', CHILD_PROCESS_DEADLINE_MS);
    assert.equal(ended.code, 2);
    assert.match(out.err(), new RegExp(`store ${join(dir, 'iosig.mdb').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*not an LMDB store`));
    assert.match(out.err(), /move it aside/);
  });
});
