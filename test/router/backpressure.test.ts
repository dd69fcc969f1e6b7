// Slow consumers, judged per receiver by the delivery groups: over the in-memory link (stream group) and over
// a real WebSocket (native topic group, checked on publish; no timer scans connections).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createServer } from '../../src/server.js';
import { MSG, PAYLOAD } from '../../src/protocol/codes.js';
import { CID_REQ_MSG, encodeSignal, encodeTagMessage } from '../../src/protocol/messages.js';
import { RawClient } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { MemClient } from './support.js';
import { inside } from '../kit/inside.js';

const LIMIT = 64 * 1024;
/** The policy applies as soon as a receiver passes LIMIT (no write deadline, the hard cap at the soft limit). */
const AT_ONCE = { maxBackpressure: LIMIT, maxBacklog: LIMIT, writeDeadline: 0 };
const PAYLOAD_BYTES = 4096;

describe('backpressure per receiver', () => {
  it('stream group, close policy: a paused receiver is closed once and counted once', async () => {
    const server = await createServer({ congPort: 0, host: '127.0.0.1', http: false, log: () => {}, ...AT_ONCE });
    try {
      const [slow, fast, pub] = await Promise.all([MemClient.open(server), MemClient.open(server), MemClient.open(server)]);
      slow.subscribe('flood');
      fast.subscribe('flood');
      await Promise.all([slow.sync(), fast.sync()]);
      slow.endpoint.pause();
      const count = Math.ceil((LIMIT * 2) / PAYLOAD_BYTES);
      for (let i = 0; i < count; i++) pub.send(encodeSignal('flood', PAYLOAD.BINARY, Buffer.alloc(PAYLOAD_BYTES)));
      for (let i = 0; i < count; i++) await fast.next();
      slow.endpoint.resume();
      await waitFor(() => slow.closed, 2000, 'the slow receiver to be closed');
      assert.equal(server.metrics().slowConsumerCloses, 1);
      assert.equal(fast.closed, false, 'the fast receiver is untouched');
      fast.close();
      pub.close();
    } finally {
      await server.close();
    }
  });

  it('stream group, drop policy: deliveries to a paused receiver are dropped and counted; it recovers', async () => {
    const { server, slow, pub } = await pausedSubscriber();
    try {
      const count = Math.ceil((LIMIT * 2) / PAYLOAD_BYTES);
      for (let i = 0; i < count; i++) pub.send(encodeSignal('flood', PAYLOAD.BINARY, Buffer.alloc(PAYLOAD_BYTES)));
      await pub.sync();
      const drops = server.metrics().drops;
      assert.ok(drops > 0 && drops < count, `some deliveries dropped (${drops} of ${count})`);
      slow.endpoint.resume();
      let received = 0;
      while (received < count - drops) {
        const msg = await slow.next();
        if (msg[0] === MSG.SIGNAL) received++;
      }
      pub.signal('flood', 'after');
      for (;;) {
        const msg = await slow.next();
        if (msg[0] === MSG.SIGNAL && msg.subarray(3 + msg[1]!).toString() === 'after') break;
      }
      assert.equal(slow.closed, false);
      slow.close();
      pub.close();
    } finally {
      await server.close();
    }
  });

  it('drop policy: a control message to a full receiver is dropped and counted once; later ones get through', async () => {
    const { server, slow, pub } = await pausedSubscriber();
    try {
      // 15 signals of 4369 bytes fill the 65 536-byte limit to one byte short, so even a 2-byte ECHO reply is over.
      const count = 20;
      for (let i = 0; i < count; i++) pub.send(encodeSignal('flood', PAYLOAD.BINARY, Buffer.alloc(Math.floor(LIMIT / 15) - 8)));
      await pub.sync();
      const drops = server.metrics().drops;
      assert.equal(drops, count - 15);
      slow.send(Buffer.from([MSG.ECHO, 0x31]));
      await pub.sync();
      assert.equal(server.metrics().drops, drops + 1, 'the ECHO reply was dropped and counted once');
      slow.endpoint.resume();
      for (let i = 0; i < count - drops; i++) assert.equal((await slow.next())[0], MSG.SIGNAL);
      await slow.sync(); // the next ECHO is answered: the receiver drained
      assert.equal(slow.closed, false);
      slow.close();
      pub.close();
    } finally {
      await server.close();
    }
  });

  it('native topic group, close policy: a WebSocket that stops reading is closed after publishes', async () => {
    const server = await createServer({ port: 0, host: '127.0.0.1', http: false, log: () => {}, maxBackpressure: LIMIT });
    try {
      // A raw TCP WebSocket client that upgrades, subscribes, then never reads again.
      const sock = await stalledWsSubscriber(server.wsPort!, 'wide');
      const pub = await RawClient.connect('ws', server.wsPort!);
      await pub.next();
      await pub.next();
      const big = encodeSignal('wide', PAYLOAD.BINARY, Buffer.alloc(16 * 1024));
      await waitFor(
        () => {
          for (let i = 0; i < 16; i++) pub.send(big);
          return server.metrics().slowConsumerCloses === 1;
        },
        10_000,
        'the stalled WebSocket subscriber to be closed by the native group',
        20,
      );
      assert.equal(inside(server).router.native !== null, true);
      sock.destroy();
      await pub.close();
    } finally {
      await server.close();
    }
  });
});

/** A drop-policy server over the in-memory link, a subscriber of 'flood' that stopped reading, and a publisher. */
async function pausedSubscriber(): Promise<{ server: Awaited<ReturnType<typeof createServer>>; slow: MemClient; pub: MemClient }> {
  const server = await createServer({ congPort: 0, host: '127.0.0.1', http: false, log: () => {}, ...AT_ONCE, slowConsumer: 'drop' });
  try {
    const [slow, pub] = await Promise.all([MemClient.open(server), MemClient.open(server)]);
    slow.subscribe('flood');
    await slow.sync();
    slow.endpoint.pause();
    return { server, slow, pub };
  } catch (err) {
    await server.close();
    throw err;
  }
}

/** Upgrades by hand, sends CID_REQ and SUBSCRIBE, then pauses the socket so the server's buffer fills. */
async function stalledWsSubscriber(port: number, tag: string): Promise<net.Socket> {
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  sock.on('error', () => {});
  sock.write(
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  await new Promise<void>((resolve) => {
    let seen = '';
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString('latin1');
      if (seen.includes('\r\n\r\n')) {
        sock.off('data', onData);
        resolve();
      }
    };
    sock.on('data', onData);
  });
  sock.write(maskedFrame(CID_REQ_MSG));
  sock.write(maskedFrame(encodeTagMessage(MSG.SUBSCRIBE, tag)));
  // Let the server route both, then stop reading for good.
  await new Promise((resolve) => setTimeout(resolve, 100));
  sock.pause();
  return sock;
}

function maskedFrame(payload: Buffer): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const head = Buffer.from([0x82, 0x80 | payload.length]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, mask, body]);
}
