// GET /api/events: the dashboard's live feed, what each access level sees, and its end at shutdown.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { IosigServer } from '../../src/index.js';
import type { IoClient } from '../../src/client/index.js';
import type { HelloFrame, TailFrame, TickFrame } from '../../src/http/dashboard-types.js';
import { TimeoutError } from '../kit/wait.js';
import { readyClient } from './support.js';
import { startServer } from '../kit/server.js';

const TOKEN = 'feed-secret';

interface FeedFrame {
  event: string;
  data: unknown;
}

/** An open event stream: frames as they arrive, and a bounded wait for the next matching one. */
class FeedReader {
  private readonly frames: FeedFrame[] = [];
  private buffered = '';
  private wake: (() => void) | null = null;
  ended = false;
  status = 0;

  private constructor(private readonly req: http.ClientRequest) {}

  static open(port: number, headers: Record<string, string> = {}): Promise<FeedReader> {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/api/events', agent: false, headers, timeout: 5000 });
      const reader = new FeedReader(req);
      req.on('response', (res) => {
        reader.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => reader.take(chunk));
        res.on('close', () => {
          reader.ended = true;
          reader.wake?.();
        });
        resolve(reader);
      });
      req.on('error', reject);
    });
  }

  private take(chunk: string): void {
    this.buffered += chunk;
    let end = this.buffered.indexOf('\n\n');
    while (end >= 0) {
      const block = this.buffered.slice(0, end);
      this.buffered = this.buffered.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) this.frames.push({ event, data: JSON.parse(data) as unknown });
      end = this.buffered.indexOf('\n\n');
    }
    this.wake?.();
  }

  async next<T>(event: string, ms: number, accept: (data: T) => boolean = () => true): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const index = this.frames.findIndex((f) => f.event === event && accept(f.data as T));
      if (index >= 0) return this.frames.splice(index, 1)[0]!.data as T;
      if (this.ended) throw new Error(`the feed ended before a ${event} frame`);
      const left = deadline - Date.now();
      if (left <= 0) throw new TimeoutError(`a ${event} frame`, ms);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async untilEnded(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.ended) {
      if (Date.now() > deadline) throw new TimeoutError('the feed to end', ms);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  close(): void {
    this.req.destroy();
  }
}

describe('GET /api/events', () => {
  let server: IosigServer;
  const readers: FeedReader[] = [];
  let device: IoClient;

  before(async () => {
    server = await startServer({ adminToken: TOKEN });
    device = await readyClient(`ws://127.0.0.1:${server.wsPort}`);
  });
  after(async () => {
    for (const reader of readers.splice(0)) reader.close();
    device.close();
    await server.close();
  });

  async function open(headers: Record<string, string> = {}): Promise<FeedReader> {
    const reader = await FeedReader.open(server.wsPort!, headers);
    readers.push(reader);
    return reader;
  }

  it('gives counters only to a client without the token', async () => {
    const feed = await open();
    assert.equal(feed.status, 200);
    const hello = await feed.next<HelloFrame>('hello', 2000);
    assert.equal(hello.access, 'counters');
    assert.equal(hello.tokenConfigured, true);
    assert.deepEqual(hello.tail, []);
    const tick = await feed.next<TickFrame>('tick', 3000);
    assert.equal(tick.metrics.connections, 1);
    assert.equal(tick.connections, undefined);
    assert.equal(tick.channels, undefined);
  });

  it('gives lists and the message tail to the admin', async () => {
    const feed = await open({ authorization: `Bearer ${TOKEN}` });
    const hello = await feed.next<HelloFrame>('hello', 2000);
    assert.equal(hello.access, 'admin');
    const tick = await feed.next<TickFrame>('tick', 3000, (t) => t.connections !== undefined);
    assert.deepEqual(
      tick.connections?.map((c) => c.cid),
      [device.cid],
    );
    device.signal('feed-room', 'seen by the tail');
    const tail = await feed.next<TailFrame>('tail', 3000);
    assert.equal(tail.entries.length, 1);
    assert.equal(tail.entries[0]!.tag, 'feed-room');
    assert.equal(tail.entries[0]!.from, device.cid);
    assert.equal(tail.entries[0]!.preview, 'seen by the tail');
  });

  it('stops tapping signals once no reader is left', async () => {
    for (const reader of readers.splice(0)) reader.close();
    const deadline = Date.now() + 2000;
    while (server.events.listenerCount('signal') > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.events.listenerCount('signal'), 0);
  });

  it('ends open feeds when the server closes', async () => {
    const feed = await open({ authorization: `Bearer ${TOKEN}` });
    await feed.next<HelloFrame>('hello', 2000);
    await server.close();
    await feed.untilEnded(2000);
  });
});
