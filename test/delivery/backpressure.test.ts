// Issue 9 items 2–4 and the slow-consumer policies: one big message reaches healthy receivers, a burst or a
// stall does not cut readers that read, a paused receiver never holds more than limit + one message, and the
// counters say what really happened (a delivery is counted when handed to the socket, a close once).
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { PAYLOAD } from '../../src/protocol/codes.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import type { ServerOptionsInput } from '../../src/options.js';
import type { Transport } from '../kit/raw-client.js';
import { sleep, waitFor } from '../kit/wait.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { type Sink, openSinks } from '../kit/sink.js';
import { inside } from '../kit/inside.js';

const TRANSPORTS: readonly Transport[] = ['ws', 'cong'];
const MiB = 1024 * 1024;
const KiB = 1024;

let servers: IosigServer[] = [];
let sinks: Sink[] = [];

async function serve(opts: ServerOptionsInput = {}): Promise<IosigServer> {
  const server = await startServer(opts);
  servers.push(server);
  return server;
}

async function sinksOf(server: IosigServer, kind: Transport | 'memory', count: number, tags: string): Promise<Sink[]> {
  const made = await openSinks(kind, kind === 'memory' ? server : portOf(server, kind), count, tags);
  sinks.push(...made);
  return made;
}

/** A binary SIGNAL whose whole message is `size` bytes. */
function signalOfSize(tag: string, size: number): Buffer {
  const head = encodeSignal(tag, PAYLOAD.BINARY, Buffer.alloc(0)).length;
  return encodeSignal(tag, PAYLOAD.BINARY, Buffer.alloc(size - head, 0x5a));
}

/** Largest per-receiver send buffer seen on the server (socket backlog plus anything queued in user space). */
function worstBacklog(server: IosigServer): number {
  let worst = 0;
  for (const conn of inside(server).registry.sessions) worst = Math.max(worst, conn.link.buffered());
  return worst;
}

describe('item 2: one message up to --max-message reaches healthy receivers (default options)', () => {
  afterEach(async () => {
    for (const sink of sinks) sink.close();
    sinks = [];
    for (const server of servers) await server.close();
    servers = [];
  });
  it('a 17 MiB SIGNAL reaches every CongSocket and WebSocket subscriber; a 17 MiB unicast reaches a CongSocket device', async () => {
    const server = await serve();
    const cong = await sinksOf(server, 'cong', 2, 'big');
    const ws = await sinksOf(server, 'ws', 1, 'big');
    const [publisher] = await sinksOf(server, 'ws', 1, '');
    const big = signalOfSize('big', 17 * MiB);
    publisher!.send(big);
    for (const sink of [...cong, ...ws]) {
      await sink.until(() => sink.signals === 1 || sink.closed, 20_000, 'the 17 MiB signal');
      assert.equal(sink.closed, false, `${sink.kind} subscriber stays connected`);
      assert.deepEqual(sink.signalSizes, [big.length], `${sink.kind} subscriber got the whole message`);
    }
    const target = cong[0]!;
    publisher!.send(signalOfSize(`${target.cid}@big`, 17 * MiB));
    await target.until(() => target.signals === 2 || target.closed, 20_000, 'the 17 MiB unicast');
    assert.equal(target.closed, false, 'the unicast target stays connected');
    assert.equal(server.metrics().slowConsumerCloses, 0);
    assert.equal(server.metrics().drops, 0);
  });
});

describe('item 3: readers that read are never treated as slow', () => {
  afterEach(async () => {
    for (const sink of sinks) sink.close();
    sinks = [];
    for (const server of servers) await server.close();
    servers = [];
  });
  for (const slowConsumer of ['close', 'drop'] as const) {
    it(`a burst of 10× the limit fanned out in one turn reaches every reader in full (${slowConsumer})`, async () => {
      const limit = 64 * KiB;
      const server = await serve({ maxBackpressure: limit, slowConsumer });
      const readers = [...(await sinksOf(server, 'cong', 3, 'burst')), ...(await sinksOf(server, 'ws', 1, 'burst'))];
      const count = 640;
      const payload = Buffer.alloc(1000, 0x42);
      // One synchronous loop: every message is fanned out before the event loop turns.
      for (let i = 0; i < count; i++) server.sendSignal('burst', PAYLOAD.BINARY, payload);
      for (const reader of readers) {
        await reader.until(() => reader.signals === count || reader.closed, 10_000, 'the whole burst');
        assert.equal(reader.closed, false, `${reader.kind} reader stays connected`);
        assert.equal(reader.signals, count, `${reader.kind} reader lost nothing`);
      }
      assert.equal(server.metrics().slowConsumerCloses, 0);
      assert.equal(server.metrics().drops, 0);
    });

    it(`after an event-loop stall, readers get everything the publishers sent meanwhile (${slowConsumer})`, async () => {
      const limit = 64 * KiB;
      const server = await serve({ maxBackpressure: limit, slowConsumer });
      const readers = [...(await sinksOf(server, 'cong', 3, 'stall')), ...(await sinksOf(server, 'ws', 1, 'stall'))];
      const publishers = await sinksOf(server, 'cong', 4, '');
      const perPublisher = 160;
      const one = signalOfSize('stall', 1024);
      // Written at once: the kernel holds it while the broker is stalled.
      for (const publisher of publishers) for (let i = 0; i < perPublisher; i++) publisher.send(one);
      // The stall: nothing runs in this process (broker included) for 300 ms while the bytes wait in the kernel.
      const until = Date.now() + 300;
      while (Date.now() < until) {
        /* busy */
      }
      const total = perPublisher * publishers.length;
      for (const reader of readers) {
        await reader.until(() => reader.signals === total || reader.closed, 10_000, 'everything sent during the stall');
        assert.equal(reader.closed, false, `${reader.kind} reader stays connected`);
        assert.equal(reader.signals, total, `${reader.kind} reader lost nothing`);
      }
      assert.equal(server.metrics().slowConsumerCloses, 0);
      assert.equal(server.metrics().drops, 0);
    });
  }
});

describe('item 4: paused receivers hold at most the hard cap + one message', () => {
  afterEach(async () => {
    for (const sink of sinks) sink.close();
    sinks = [];
    for (const server of servers) await server.close();
    servers = [];
  });
  for (const kind of TRANSPORTS) {
    it(`drop policy: a paused ${kind} receiver's send buffer stays within the hard cap + one message; a reading one gets everything`, async () => {
      const limit = 256 * KiB;
      const server = await serve({ maxBackpressure: limit, maxBacklog: 2 * limit, slowConsumer: 'drop' });
      // A WebSocket is judged on half the figures in uWS's buffer (webSocketBufferLimit).
      const cap = kind === 'ws' ? limit : 2 * limit;
      const paused = await sinksOf(server, kind, 4, 'mem');
      const [reader] = await sinksOf(server, kind, 1, 'mem');
      for (const sink of paused) sink.pause();
      const payload = Buffer.alloc(64 * KiB - 16, 0x4d);
      const rounds = 64; // 64 × 16 × 64 KiB = 64 MiB per receiver, far past any kernel buffer
      let worst = 0;
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < 16; i++) server.sendSignal('mem', PAYLOAD.BINARY, payload);
        worst = Math.max(worst, worstBacklog(server));
        await reader!.until(() => reader!.signals === (r + 1) * 16 || reader!.closed, 10_000, 'the reading receiver keeps up');
        worst = Math.max(worst, worstBacklog(server));
      }
      assert.ok(worst <= cap + 64 * KiB + 16, `worst send buffer ${worst} ≤ cap ${cap} + one message`);
      assert.equal(reader!.closed, false);
      assert.equal(reader!.signals, rounds * 16, 'the reading receiver got everything');
      for (const sink of paused) assert.equal(sink.closed, false, 'drop policy keeps paused receivers');
      assert.ok(server.metrics().drops > 0, 'drops are counted');
    });
  }
});

describe('slow-consumer policies and their counters', () => {
  afterEach(async () => {
    for (const sink of sinks) sink.close();
    sinks = [];
    for (const server of servers) await server.close();
    servers = [];
  });
  for (const kind of [...TRANSPORTS, 'memory'] as const) {
    it(`drop (${kind}): every publish is a delivery or a drop, and every counted delivery arrives; delivery resumes after the receiver reads`, async () => {
      const limit = 64 * KiB;
      const server = await serve({ maxBackpressure: limit, slowConsumer: 'drop' });
      const [slow] = await sinksOf(server, kind, 1, 'slow');
      slow!.pause();
      const start = server.metrics();
      let sent = 0;
      const publish = (size: number): void => {
        server.sendSignal('slow', PAYLOAD.BINARY, Buffer.alloc(size, 0x33));
        sent++;
      };
      // Fill the kernel's buffers first, one message a turn, until the server itself holds bytes for the receiver
      // (how a loaded host with small socket buffers looks): the bursts below then meet a socket with little room.
      for (let i = 0; i < 4000 && worstBacklog(server) === 0; i++) {
        publish(20 * KiB);
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.ok(worstBacklog(server) > 0, 'the kernel buffers are full');
      // A burst in one turn (uWS queues short messages and writes them every 32 and at the end of the turn)...
      for (let i = 0; i < 200; i++) publish(8 * KiB);
      // ... then bursts spread over turns.
      for (let i = 0; i < 1000; i++) {
        publish(8 * KiB);
        if (i % 100 === 99) await sleep(5);
      }
      await sleep(100);
      slow!.resume();
      const after = server.metrics();
      const delivered = after.deliveries - start.deliveries;
      const dropped = after.drops - start.drops;
      assert.ok(dropped > 0, 'some deliveries were dropped');
      assert.equal(delivered + dropped, sent, 'every publish is either a delivery or a drop');
      // Exact: a delivery is counted only for a message the socket took.
      await slow!.until(() => slow!.signals >= delivered, 10_000, 'every counted delivery arrives');
      await sleep(100);
      assert.equal(slow!.signals, delivered, `received ${slow!.signals}, counted ${delivered}`);
      const got = slow!.signals;
      publish(8 * KiB);
      await slow!.until(() => slow!.signals === got + 1, 5000, 'delivery resumes once drained');
      assert.equal(slow!.closed, false);
    });
  }

  for (const kind of TRANSPORTS) {
    it(`close (${kind}): a paused receiver is closed and counted once; others keep their data`, async () => {
      const limit = 64 * KiB;
      const server = await serve({ maxBackpressure: limit, slowConsumer: 'close' });
      const [slow] = await sinksOf(server, kind, 1, 'slowc');
      const [healthy] = await sinksOf(server, kind, 1, 'slowc');
      slow!.pause();
      const payload = Buffer.alloc(8 * KiB, 0x34);
      let sent = 0;
      for (let round = 0; round < 200 && !slow!.closed; round++) {
        for (let i = 0; i < 50; i++) server.sendSignal('slowc', PAYLOAD.BINARY, payload);
        sent += 50;
        await healthy!.until(() => healthy!.signals === sent, 10_000, 'the healthy receiver keeps up');
        if (server.metrics().slowConsumerCloses > 0) break;
      }
      await waitFor(() => inside(server).registry.sessions.size === 1, 5000, 'the slow receiver is gone on the server');
      await sleep(50);
      assert.equal(server.metrics().slowConsumerCloses, 1, 'one close, counted once');
      for (let i = 0; i < 50; i++) server.sendSignal('slowc', PAYLOAD.BINARY, payload);
      await healthy!.until(() => healthy!.signals === sent + 50, 5000, 'the healthy receiver still gets everything');
      assert.equal(healthy!.closed, false);
    });
  }
});
