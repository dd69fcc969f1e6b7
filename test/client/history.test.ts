// Positioned subscriptions of the client library (IoClient.subscribeSince) against a server keeping the channel's
// history (--history) and its data directory: across a restart the client gets exactly the signals it missed,
// each with its position, then live ones; when the history was lost it is told (history_gap), never a silent gap.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoClient, type SignalMessage } from '../../src/client/index.js';
import type { IosigServer } from '../../src/index.js';
import { PAYLOAD } from '../../src/protocol/codes.js';
import { inside } from '../kit/inside.js';
import { waitFor } from '../kit/wait.js';
import { nextEvent } from './support.js';
import { startServer, urlOf } from '../kit/server.js';

describe('IoClient.subscribeSince', () => {
  const clients: IoClient[] = [];
  const servers: IosigServer[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'iosig-client-history-'));

  after(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const server of servers.splice(0)) await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('after a restart: exactly the missed signals with their positions, then live ones; a lost history is a history_gap', { timeout: 30_000 }, async () => {
    const options = { dataDir: dir, history: ['chat/#=1000'] };
    const first = await startServer(options);
    servers.push(first);
    const reader = new IoClient(urlOf(first, 'ws'), { reconnectDelayMs: 50, reconnectMaxDelayMs: 100 });
    clients.push(reader);
    const got: SignalMessage[] = [];
    reader.on('message', (m) => got.push(m));
    await reader.whenReady(3000);
    const start = await reader.subscribeSince('chat/a');
    assert.equal(start.recovered, true);
    for (let i = 1; i <= 5; i++) first.sendSignal('chat/a', PAYLOAD.TEXT, Buffer.from(`m${i}\0`));
    await waitFor(() => got.length === 5, 3000, 'five positioned signals');
    const epoch = got[0]!.position!.epoch;
    assert.deepEqual(got.map((m) => [m.values[0], m.position?.offset]), [['m1', 1], ['m2', 2], ['m3', 3], ['m4', 4], ['m5', 5]]);
    assert.deepEqual(reader.position('chat/a'), { epoch, offset: 5 });

    const { wsPort, congPort } = first;
    await first.close();
    servers.splice(servers.indexOf(first), 1);
    const second = await startServer({ ...options, port: wsPort, congPort });
    servers.push(second);
    // Published before the reader is back.
    for (let i = 6; i <= 8; i++) second.sendSignal('chat/a', PAYLOAD.TEXT, Buffer.from(`m${i}\0`));
    await nextEvent(reader, 'ready', 5000);
    await waitFor(() => got.length === 8, 5000, 'the missed signals');
    second.sendSignal('chat/a', PAYLOAD.TEXT, Buffer.from('m9\0'));
    await waitFor(() => got.length === 9, 3000, 'a live one');
    assert.deepEqual(got.slice(5).map((m) => [m.values[0], m.position?.epoch, m.position?.offset]), [['m6', epoch, 6], ['m7', epoch, 7], ['m8', epoch, 8], ['m9', epoch, 9]]);

    // The history is lost (an admin clears it): on the next reconnect the client is told it cannot recover.
    assert.equal(inside(second).durability.history!.clear('CH:chat/a'), true);
    const gap = nextEvent(reader, 'history_gap', 5000);
    inside(second).closeCid(reader.cid, 'test');
    const [tag, reason] = await gap;
    assert.equal(tag, 'chat/a');
    assert.equal(reason, 'epoch');
    second.sendSignal('chat/a', PAYLOAD.TEXT, Buffer.from('m10\0'));
    await waitFor(() => got.length === 10, 3000, 'live again, in a new epoch');
    assert.notEqual(got[9]!.position!.epoch, epoch);
    assert.equal(got[9]!.position!.offset, 1);
  });
});
