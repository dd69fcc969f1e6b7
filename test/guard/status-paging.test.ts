// Issue 9 item 6 (HTTP part): /api/status pages its lists (limit + cursor) instead of listing every connection
// and channel in one turn. 50 000 channels made over the wire; one page stays small and quick, and the cursors
// walk every channel and every connection exactly once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientPool, type RawClient } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { startServer, type IosigServer } from '../kit/server.js';
import { request } from '../http/support.js';
import { encodeFrame } from '../../src/protocol/congsocket.js';
import type { StatusBody } from '../../src/http/dashboard-types.js';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from '../../src/http/paging.js';
import { sub } from '../kit/messages.js';

const CHANNELS = 50_000;
const CLIENTS = 10;
const TAGS_PER_MESSAGE = 36;

async function status(port: number, query: string): Promise<{ body: StatusBody; bytes: number; ms: number }> {
  const started = performance.now();
  const reply = await request(port, `/api/status${query}`);
  const ms = performance.now() - started;
  assert.equal(reply.status, 200, reply.body);
  return { body: JSON.parse(reply.body) as StatusBody, bytes: Buffer.byteLength(reply.body), ms };
}

describe('paged /api/status', () => {
  let server: IosigServer;
  const pool = new ClientPool();
  const clients: RawClient[] = [];

  before(async () => {
    // Every client is on 127.0.0.1: the per-address share of the channel cap would stop them at 10 000 channels.
    server = await startServer({ capShares: { share: 1 } });
    for (let c = 0; c < CLIENTS; c++) {
      const client = await pool.ready('cong', server.congPort!);
      clients.push(client);
      // This client's share of the channels, as one write of many SUBSCRIBE frames.
      const frames: Buffer[] = [];
      const first = (c * CHANNELS) / CLIENTS;
      for (let i = first; i < first + CHANNELS / CLIENTS; i += TAGS_PER_MESSAGE) {
        const tags: string[] = [];
        for (let j = i; j < Math.min(i + TAGS_PER_MESSAGE, first + CHANNELS / CLIENTS); j++) tags.push(`p${String(j).padStart(5, '0')}`);
        frames.push(encodeFrame(sub(tags.join(','))));
      }
      client.sendRaw(Buffer.concat(frames));
    }
    await waitFor(() => server.metrics().channels === CHANNELS, 20_000, `${CHANNELS} channels`);
  });
  after(async () => {
    await pool.closeAll();
    await server.close();
  });

  it('answers one bounded page by default', async () => {
    const { body, bytes, ms } = await status(server.wsPort!, '');
    console.log(`# default page with ${CHANNELS} channels: ${bytes} bytes in ${ms.toFixed(1)} ms`);
    assert.equal(body.limit, DEFAULT_PAGE_LIMIT);
    assert.equal(body.channels.length, DEFAULT_PAGE_LIMIT);
    assert.equal(body.connections.length, CLIENTS);
    assert.equal(body.next.connections, null, 'all connections fit on the first page');
    assert.equal(typeof body.next.channels, 'string');
    assert.ok(bytes < 64 * 1024, `${bytes} bytes`);
    for (const conn of body.connections) {
      assert.ok(conn.channels.length <= 100, 'a connection names at most 100 of its channels');
      assert.equal(conn.channelCount, CHANNELS / CLIENTS);
    }
    assert.equal(body.metrics.channels, CHANNELS, 'the counters still count everything');
  });

  it('walks every channel exactly once with the cursor, in key order', async () => {
    const seen: string[] = [];
    let cursor: string | null = '';
    let pages = 0;
    let slowest = 0;
    let largest = 0;
    while (cursor !== null && pages < 1000) {
      const { body, ms, bytes }: { body: StatusBody; ms: number; bytes: number } = await status(
        server.wsPort!,
        `?list=channels&limit=${MAX_PAGE_LIMIT}&channels=${encodeURIComponent(cursor)}`,
      );
      assert.equal(body.connections.length, 0, 'list=channels leaves connections out');
      assert.ok(body.channels.length <= MAX_PAGE_LIMIT);
      for (const channel of body.channels) seen.push(channel.key);
      cursor = body.next.channels;
      slowest = Math.max(slowest, ms);
      largest = Math.max(largest, bytes);
      pages++;
    }
    console.log(`# ${pages} pages of ${MAX_PAGE_LIMIT} channels; slowest ${slowest.toFixed(1)} ms, largest ${largest} bytes`);
    assert.equal(seen.length, CHANNELS);
    assert.equal(new Set(seen).size, CHANNELS, 'no channel twice');
    assert.deepEqual(seen, [...seen].sort(), 'key order');
    assert.ok(largest < 200 * 1024);
  });

  it('walks connections by ssid, and a limit above the maximum is capped', async () => {
    const ssids: number[] = [];
    let cursor: number | null = 0;
    while (cursor !== null && ssids.length <= CLIENTS) {
      const { body }: { body: StatusBody } = await status(server.wsPort!, `?list=connections&limit=3&connections=${cursor}`);
      assert.ok(body.connections.length <= 3);
      ssids.push(...body.connections.map((c) => c.ssid));
      cursor = body.next.connections;
    }
    assert.deepEqual(ssids, [...ssids].sort((a, b) => a - b), 'ascending');
    assert.equal(new Set(ssids).size, CLIENTS);
    const { body } = await status(server.wsPort!, '?limit=999999999');
    assert.equal(body.limit, MAX_PAGE_LIMIT);
  });
});
