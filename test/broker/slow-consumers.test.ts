// Issue 16 item 8: a slow-consumer rule that tells a stalled reader from a busy one. A receiver over the soft
// limit is only behind; the policy applies after the write deadline, at once past the hard cap, and to the
// most-behind first past the global budget; closing many at once is spread over turns, and readers elsewhere
// are never cut for someone else's stall.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { describe, it } from 'node:test';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { MSG, PAYLOAD } from '../../src/protocol/codes.js';
import { CID_REQ_MSG, encodeSignal, encodeTagMessage } from '../../src/protocol/messages.js';
import { CLOSES_PER_TURN } from '../../src/broker/slow-consumers.js';
import type { ServerOptionsInput } from '../../src/options.js';
import type { Transport } from '../kit/raw-client.js';
import { sleep, waitFor } from '../kit/wait.js';
import { ManualClock } from '../kit/manual-clock.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { openSinks } from '../kit/sink.js';
import { inside } from '../kit/inside.js';

const KiB = 1024;

async function withServer(opts: ServerOptionsInput, body: (server: IosigServer) => Promise<void>): Promise<void> {
  const server = await startServer(opts);
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

function signalOfSize(tag: string, size: number): Buffer {
  const head = encodeSignal(tag, PAYLOAD.BINARY, Buffer.alloc(0)).length;
  return encodeSignal(tag, PAYLOAD.BINARY, Buffer.alloc(size - head, 0x5a));
}

describe('slow consumers: a busy reader is not a slow one (defaults)', () => {
  for (const kind of ['ws', 'cong'] as Transport[]) {
    it(`40 × 500 KB to a ${kind} receiver busy for 2 s: it gets all 40 and stays`, async () => {
      await withServer({}, async (server) => {
        const [busy] = await openSinks(kind, portOf(server, kind), 1, 'burst');
        const [publisher] = await openSinks('cong', portOf(server, 'cong'), 1, '');
        try {
          busy!.pause();
          const one = signalOfSize('burst', 500_000);
          for (let i = 0; i < 40; i++) publisher!.send(one);
          await publisher!.sync(20_000);
          await sleep(2000);
          busy!.resume();
          await busy!.until(() => busy!.signals === 40 || busy!.closed, 20_000, 'all 40 messages');
          assert.equal(busy!.closed, false, 'the busy reader stays connected');
          assert.equal(busy!.signals, 40);
          assert.equal(server.metrics().slowConsumerCloses, 0);
          assert.equal(server.metrics().drops, 0);
        } finally {
          busy!.close();
          publisher!.close();
        }
      });
    });
  }
});

describe('slow consumers: the rule on the manual clock (in-memory link)', () => {
  const SOFT = 64 * KiB;

  /** A server on a manual clock with `count` subscribers of 'feed' that stopped reading, and a publish helper. */
  async function scene(opts: ServerOptionsInput, count: number) {
    const clock = new ManualClock();
    const server = await startServer({ maxBackpressure: SOFT, maxBacklog: 4 * SOFT, writeDeadline: 5000, clock, ...opts });
    const sinks = await openSinks('memory', server, count, 'feed');
    for (const sink of sinks) sink.pause();
    const publish = (bytes: number, times = 1): void => {
      for (let i = 0; i < times; i++) server.sendSignal('feed', PAYLOAD.BINARY, Buffer.alloc(bytes));
    };
    return { clock, server, sinks, publish };
  }

  it('close: behind is not slow until the write deadline; then closed, counted once, by reason', async () => {
    const { clock, server, sinks, publish } = await scene({ slowConsumer: 'close' }, 1);
    try {
      publish(8 * KiB, 10); // 80 KiB: over the soft limit, far below the cap
      assert.equal(server.metrics().slowConsumersBehind, 1, 'behind');
      clock.advance(4900);
      await sleep(20);
      assert.equal(sinks[0]!.closed, false, 'not closed before the deadline');
      assert.equal(server.metrics().slowConsumerCloses, 0);
      clock.advance(400);
      await waitFor(() => sinks[0]!.closed, 2000, 'the close after the deadline');
      const m = server.metrics();
      assert.equal(m.slowConsumerCloses, 1);
      assert.deepEqual(m.slowConsumerVerdicts, { deadline: 1, backlog: 0, budget: 0 });
      assert.equal(m.drops, 0, 'nothing was addressed to it after the verdict');
    } finally {
      await server.close();
    }
  });

  it('a receiver that catches up before the deadline is forgotten', async () => {
    const { clock, server, sinks, publish } = await scene({ slowConsumer: 'close' }, 1);
    try {
      publish(8 * KiB, 10);
      assert.equal(server.metrics().slowConsumersBehind, 1);
      clock.advance(3000);
      sinks[0]!.resume();
      await sinks[0]!.until(() => sinks[0]!.signals === 10, 2000, 'the backlog');
      clock.advance(3000);
      await sleep(20);
      assert.equal(server.metrics().slowConsumersBehind, 0, 'caught up');
      assert.equal(sinks[0]!.closed, false);
      assert.equal(server.metrics().slowConsumerCloses, 0);
    } finally {
      await server.close();
    }
  });

  it('drop: after the deadline its deliveries are drops until it drains; every publish is a delivery or a drop', async () => {
    const { clock, server, sinks, publish } = await scene({ slowConsumer: 'drop' }, 1);
    try {
      publish(8 * KiB, 10);
      clock.advance(5300);
      publish(8 * KiB, 5);
      const m = server.metrics();
      assert.equal(m.deliveries, 10);
      assert.equal(m.drops, 5, 'dropped after the verdict');
      assert.deepEqual(m.slowConsumerVerdicts, { deadline: 1, backlog: 0, budget: 0 });
      sinks[0]!.resume();
      await sinks[0]!.until(() => sinks[0]!.signals === 10, 2000, 'what it was sent');
      await sleep(20);
      publish(8 * KiB);
      await sinks[0]!.until(() => sinks[0]!.signals === 11, 2000, 'delivery resumes once drained');
      assert.equal(sinks[0]!.closed, false);
    } finally {
      await server.close();
    }
  });

  it('past the hard cap the policy applies at once, without waiting for the deadline', async () => {
    const { server, sinks, publish } = await scene({ slowConsumer: 'drop' }, 1);
    try {
      publish(8 * KiB, 40); // 320 KiB > the 256 KiB cap
      const m = server.metrics();
      assert.equal(m.deliveries + m.drops, 40);
      assert.ok(m.drops > 0);
      assert.equal(m.slowConsumerVerdicts.backlog, 1);
      assert.equal(sinks[0]!.closed, false);
    } finally {
      await server.close();
    }
  });

  it('over the global budget, the receivers holding most give way first', async () => {
    const { clock, server, sinks } = await scene({ slowConsumer: 'close', maxBacklogTotal: 200 * KiB }, 3);
    try {
      // Three receivers behind, holding 150, 100 and 70 KiB: 320 KiB against a 200 KiB budget.
      const sizes = [150, 100, 70];
      for (let i = 0; i < 3; i++) server.sendSignal(`${sinks[i]!.cid}@x`, PAYLOAD.BINARY, Buffer.alloc(sizes[i]! * KiB));
      assert.equal(server.metrics().slowConsumersBehind, 3);
      clock.advance(1000);
      await waitFor(() => sinks[0]!.closed, 2000, 'the largest closed');
      await sleep(20);
      assert.equal(sinks[1]!.closed, false, '150 + 100 + 70 less 150 = 170 KiB: within the budget');
      assert.equal(sinks[2]!.closed, false);
      assert.deepEqual(server.metrics().slowConsumerVerdicts, { deadline: 0, backlog: 0, budget: 1 });
    } finally {
      await server.close();
    }
  });
});

/** WebSocket readers in another process, reading everything; each prints "done" after `expected` signals, "closed" if closed. */
function healthyReaders(port: number, count: number, expected: number): { child: ChildProcess; lines: string[] } {
  const hello = [CID_REQ_MSG, encodeTagMessage(MSG.SUBSCRIBE, 'healthy-bus')].map((msg) => [...msg]);
  const script = `
    const WebSocket = require(${JSON.stringify(requireHere.resolve('ws'))});
    for (let i = 0; i < ${count}; i++) {
      const ws = new WebSocket('ws://127.0.0.1:${port}/', { perMessageDeflate: false });
      let signals = 0;
      ws.on('open', () => { for (const msg of ${JSON.stringify(hello)}) ws.send(Buffer.from(msg)); });
      ws.on('message', (data) => {
        if (data[0] === ${MSG.SIGNAL} && ++signals === ${expected}) console.log('done');
      });
      ws.on('close', () => console.log('closed'));
    }
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  return { child, lines };
}

const requireHere = createRequire(import.meta.url);

describe('slow consumers: many at once', () => {
  it(`1000 paused subscribers closed together are closed at most ${CLOSES_PER_TURN} per turn; healthy readers in another process lose nothing`, async () => {
    await withServer({ maxBackpressure: 64 * KiB, maxBacklog: 256 * KiB, writeDeadline: 300, slowConsumer: 'close' }, async (server) => {
      const paused = await openSinks('memory', server, 1000, 'healthy-bus');
      for (const sink of paused) sink.pause();
      const messages = 40;
      const readers = healthyReaders(server.wsPort!, 10, messages);
      try {
        await waitFor(() => inside(server).router.channels.get('CH:healthy-bus')?.size === 1010, 10_000, 'the readers subscribed');
        // Closes per event-loop turn, counted from the disconnect events.
        let turn = 0;
        let inTurn = 0;
        let worst = 0;
        let lastTurn = -1;
        let ticking = true;
        const tick = (): void => {
          turn++;
          if (ticking) setImmediate(tick);
        };
        setImmediate(tick);
        server.events.on('disconnect', () => {
          if (turn !== lastTurn) {
            lastTurn = turn;
            inTurn = 0;
          }
          worst = Math.max(worst, ++inTurn);
        });
        for (let i = 0; i < messages; i++) {
          server.sendSignal('healthy-bus', PAYLOAD.BINARY, Buffer.alloc(4 * KiB));
          if (i % 10 === 9) await sleep(100);
        }
        await waitFor(() => server.metrics().slowConsumerCloses === 1000, 10_000, 'every paused subscriber closed');
        await waitFor(() => readers.lines.filter((l) => l === 'done').length === 10, 10_000, 'the healthy readers got everything');
        ticking = false;
        assert.equal(readers.lines.includes('closed'), false, 'no healthy reader was closed');
        assert.ok(worst <= CLOSES_PER_TURN, `at most ${CLOSES_PER_TURN} closes in one turn (saw ${worst})`);
      } finally {
        readers.child.kill();
        for (const sink of paused) sink.close();
      }
    });
  });
});
