// The client library against a real iosig server, over WebSocket and CongSocket and across the two.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { BadUrlError, CallError, IoClient, NotConnectedError, ReplyTimeoutError, type IoClientOptions, type SignalMessage } from '../../src/client/index.js';
import { measureRtt } from '../../src/client/rtt.js';
import { CongDecoder, encodeFrame } from '../../src/protocol/congsocket.js';
import { MSG } from '../../src/protocol/codes.js';
import { encodeCidRes, encodeServerTimeNonce } from '../../src/protocol/messages.js';
import { sleep } from '../kit/wait.js';
import { nextEvent } from './support.js';
import type { IosigServer } from '../../src/index.js';
import { TRANSPORTS, startServer, urlOf } from '../kit/server.js';
import type { Transport } from '../kit/raw-client.js';

const ANON_CID = /^\?[A-Za-z0-9_-]{4}$/;
const FAST: IoClientOptions = { reconnectDelayMs: 50, reconnectMaxDelayMs: 200, callTimeoutMs: 2000 };

describe('IoClient against iosig', () => {
  let server: IosigServer;
  const clients: IoClient[] = [];

  before(async () => {
    server = await startServer();
  });
  after(async () => {
    for (const client of clients.splice(0)) client.close();
    await server.close();
  });

  async function ready(transport: Transport, options: IoClientOptions = {}): Promise<IoClient> {
    const client = new IoClient(urlOf(server, transport), { ...FAST, ...options });
    clients.push(client);
    await client.whenReady(3000);
    return client;
  }

  /** Waits until the server has handled everything `client` sent so far (ECHO comes back after it). */
  const settled = (client: IoClient): Promise<string> => client.echo('sync');

  for (const [from, to] of [['ws', 'cong'], ['cong', 'ws'], ['ws', 'ws'], ['cong', 'cong']] as const) {
    it(`delivers every payload type decoded as §5.2 says (${from} → ${to})`, async () => {
      const sender = await ready(from);
      const receiver = await ready(to);
      assert.match(sender.cid, ANON_CID);
      const tag = `types-${from}-${to}`;
      receiver.subscribe(tag);
      await settled(receiver);
      const got: SignalMessage[] = [];
      receiver.on('message', (m) => {
        if (m.tag === tag) got.push(m);
      });
      const binary = Buffer.from([0, 1, 2, 255]);
      sender.signal(tag);
      sender.signal(tag, 'héllo');
      sender.signal(tag, 21.5);
      sender.signal(tag, binary);
      sender.signal(tag, { a: [1, 'x'] });
      sender.signal(tag, null);
      sender.signal(tag, 'a', 2, { b: true });
      sender.signal(tag, 'bin', binary, 7);
      await settled(sender);
      await settled(receiver);
      assert.deepEqual(
        got.map((m) => [m.payloadTypeName, m.values]),
        [
          ['EMPTY', [null]],
          ['TEXT', ['héllo']],
          ['TEXT', ['21.5']],
          ['BINARY', [binary]],
          ['OBJECT', [{ a: [1, 'x'] }]],
          ['OBJECT', [null]],
          ['MJSON', ['a', 2, { b: true }]],
          ['MBA', ['bin', binary, 7]],
        ],
      );
      assert.ok(got.every((m) => !m.unicast && !m.e2e && m.decoded));
      assert.deepEqual([...got[1]!.payload], [...Buffer.from('héllo\0')], 'TEXT goes out with one NUL');
      sender.close();
      receiver.close();
    });
  }

  for (const transport of TRANSPORTS) {
    it(`subscribes, listens per tag, unsubscribes one and all (${transport})`, async () => {
      const client = await ready(transport);
      client.subscribe('s1,s2');
      client.subscribe('s3');
      const seen: string[] = [];
      const stop = client.listen('s4', (m) => seen.push(String(m.values[0])));
      assert.deepEqual(client.channels, ['s1', 's2', 's3', 's4']);
      assert.deepEqual((await client.iam()).tag, ['CH:s1', 'CH:s2', 'CH:s3', 'CH:s4']);
      client.signal('s4', 'one');
      await settled(client);
      stop();
      client.signal('s4', 'two');
      await settled(client);
      assert.deepEqual(seen, ['one'], 'the listener only ran until it was removed');
      client.unsubscribe('s2');
      assert.deepEqual((await client.iam()).tag, ['CH:s1', 'CH:s3', 'CH:s4']);
      client.unsubscribe();
      assert.deepEqual(client.channels, []);
      assert.deepEqual((await client.iam('nick-' + transport)).tag, []);
      assert.equal(client.nick, 'nick-' + transport);
      client.close();
    });

    it(`unicasts to a CID and relays SIGNAL_E2E it cannot read (${transport})`, async () => {
      const a = await ready(transport);
      const b = await ready(transport === 'ws' ? 'cong' : 'ws');
      const unicast = nextEvent(b, 'message', 2000, (m) => m.unicast);
      a.signal(`${b.cid}@direct`, 'u1');
      const [u] = await unicast;
      assert.equal(u.tag, '@direct');
      assert.deepEqual(u.values, ['u1']);

      b.subscribe('secret');
      await settled(b);
      const sealed = nextEvent(b, 'message', 2000, (m) => m.tag === 'secret');
      assert.equal(a.signalE2E('secret', 'for your eyes', 'pass-phrase'), true);
      const [m] = await sealed;
      assert.equal(m.e2e, true);
      assert.equal(m.payloadTypeName, 'BINARY');
      assert.equal(m.payload[0], MSG.ENC_PACK);
      assert.equal(b.openE2E(m, 'pass-phrase')?.toString(), 'for your eyes');
      assert.equal(b.openE2E(m, 'wrong'), null);
      a.close();
      b.close();
    });

    it(`echo, ping, call and the round-trip probe (${transport})`, async () => {
      const client = await ready(transport);
      assert.equal(await client.echo('hi'), 'hi');
      assert.equal(await client.echo(), '');
      const rtt = await client.ping();
      assert.ok(rtt >= 0 && rtt < 2000);
      await assert.rejects(client.call('nosuch', 'topic', 'x'), (err: unknown) => {
        assert.ok(err instanceof CallError);
        assert.equal(err.status, 255);
        assert.equal(err.body, 'UNKNOWN_SERVICE');
        return true;
      });
      const report = await measureRtt(client, { count: 5 });
      for (const summary of [report.echo, report.broker]) {
        assert.equal(summary.count, 5);
        assert.equal(summary.lost, 0);
        assert.ok(summary.min <= summary.median && summary.median <= summary.p99 && summary.p99 <= summary.max);
      }
      client.close();
    });

    it(`refuses to send over its quota and says so (${transport})`, async () => {
      const client = await ready(transport);
      const refused = nextEvent(client, 'over_size', 1000);
      assert.equal(client.signal('big', Buffer.alloc(client.quota.signalSize + 1)), false);
      const [info] = await refused;
      assert.equal(info.local, true);
      assert.equal(info.limit, 1_048_576);
      client.close();
    });

    it(`close() stays closed until connect() (Q31) (${transport})`, async () => {
      const client = await ready(transport, { reconnectDelayMs: 20 });
      const closed = nextEvent(client, 'close', 2000);
      client.close();
      const [info] = await closed;
      assert.equal(info.willReconnect, false);
      assert.equal(client.state, 'stopped');
      let reconnecting = false;
      client.on('connecting', () => (reconnecting = true));
      await sleep(100); // five reconnect delays
      assert.equal(reconnecting, false, 'no automatic reconnect after close()');
      await assert.rejects(client.echo('x'), NotConnectedError);
      client.connect();
      assert.match(await client.whenReady(3000), ANON_CID);
      client.close();
    });
  }

  it('throws BadUrlError for an unusable URL', () => {
    assert.throws(() => new IoClient('ftp://x:1'), BadUrlError);
    assert.throws(() => new IoClient('ws://'), BadUrlError);
  });

  it('reports a refused connection and keeps retrying with a growing delay', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const client = new IoClient(`cong://127.0.0.1:${port}`, { reconnectDelayMs: 20, reconnectMaxDelayMs: 40 });
    try {
      const delays: number[] = [];
      let firstReason = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no three close events')), 3000);
        client.on('close', (info) => {
          firstReason ||= info.reason;
          delays.push(info.reconnectInMs ?? -1);
          if (delays.length === 3) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      assert.equal(firstReason, 'connection refused (ECONNREFUSED)');
      assert.deepEqual(delays, [20, 40, 40]);
    } finally {
      client.close();
    }
  });
});

describe('IoClient call time limits', () => {
  /** A CongSocket server that completes the handshake and then ignores everything (like a missing service, Q12). */
  let silent: net.Server;
  let port = 0;
  const calls: number[] = [];

  before(async () => {
    silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.write(encodeFrame(encodeServerTimeNonce(Date.now(), Buffer.alloc(2), Buffer.from([1, 2, 3, 4]))));
      socket.write(encodeFrame(Buffer.from([MSG.SERVER_READY])));
      const decoder = new CongDecoder(
        {
          frame: (msg) => {
            if (msg[0] === MSG.CID_REQ) socket.write(encodeFrame(encodeCidRes('SILENT')));
            if (msg[0] === MSG.CALL) calls.push(msg.readUInt16BE(1));
          },
          error: () => socket.destroy(),
        },
        1 << 20,
      );
      socket.on('data', (chunk) => decoder.push(chunk));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    port = (silent.address() as net.AddressInfo).port;
  });
  const sockets = new Set<net.Socket>();
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('rejects an unanswered call with ReplyTimeoutError at the client or per-call limit', async () => {
    const client = new IoClient(`cong://127.0.0.1:${port}`, { callTimeoutMs: 150, reconnect: false });
    try {
      assert.equal(await client.whenReady(2000), 'SILENT');
      const started = Date.now();
      await assert.rejects(client.call('nobody', 'home', 1), ReplyTimeoutError);
      const tookDefault = Date.now() - started;
      assert.ok(tookDefault >= 140 && tookDefault < 1000, `took ${tookDefault} ms`);
      const started2 = Date.now();
      await assert.rejects(client.request({ target: 'nobody', topic: 'home', timeoutMs: 40 }), ReplyTimeoutError);
      assert.ok(Date.now() - started2 < 500);
      assert.deepEqual(calls, [1, 2], 'each call carries the next message id');
    } finally {
      client.close();
    }
  });

  it('rejects waiting calls at once when the connection drops', async () => {
    const client = new IoClient(`cong://127.0.0.1:${port}`, { callTimeoutMs: 5000, reconnect: false });
    await client.whenReady(2000);
    const waiting = client.call('nobody', 'home');
    client.close();
    await assert.rejects(waiting, NotConnectedError);
  });
});
