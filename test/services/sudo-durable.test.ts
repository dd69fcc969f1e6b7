// sudo's commands on durable state (issue 20 item 5) and the store's series in /metrics, on a server with a data
// directory and a history channel.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { IosigServer } from '../../src/index.js';
import { PAYLOAD } from '../../src/protocol/codes.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import { createSudoService } from '../../src/services/sudo.js';
import { ClientPool } from '../kit/raw-client.js';
import { ADMIN, ServicePeer, startServer } from './support.js';
import { portOf } from '../kit/server.js';

const textSignal = (tag: string, value: string): Buffer => encodeSignal(tag, PAYLOAD.TEXT, Buffer.from(value + '\0', 'utf8'));

describe('sudo on durable state', () => {
  let server: IosigServer;
  const pool = new ClientPool();
  const dir = mkdtempSync(join(tmpdir(), 'iosig-sudo-durable-'));

  before(async () => {
    server = await startServer([createSudoService()], { server: { dataDir: dir, history: ['chat/#=100'] } });
  });
  afterEach(() => pool.closeAll());
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists, reads and clears retained values and histories; shows the store figures; refuses others', async () => {
    const admin = await ServicePeer.login(pool, 'ws', portOf(server, 'ws'), ADMIN.id, ADMIN.key);
    const anon = await ServicePeer.anonymous(pool, 'ws', portOf(server, 'ws'));
    for (const [tag, value] of [['a/x$', '1'], ['a/y$', '2'], ['b$', '3']] as const) anon.raw.send(textSignal(tag, value));
    for (let i = 1; i <= 3; i++) anon.raw.send(textSignal('chat/room', `m${i}`));
    await anon.raw.sync();
    assert.equal((await anon.call('sudo', 'retained')).status, 255, 'level 255 only');

    assert.deepEqual((await admin.call('sudo', 'retained', 'CH:a/')).body, { items: ['CH:a/x$', 'CH:a/y$'], next: null });
    const one = (await admin.call('sudo', 'getretained', 'CH:b$')).body as Record<string, unknown>;
    assert.equal(one['tag'], 'b$');
    assert.equal(one['preview'], '3');
    assert.match(String(one['owner']), /^a:/);
    assert.equal((await admin.call('sudo', 'delretained', 'CH:a/x$', 'CH:none$')).body, 1);
    assert.deepEqual((await admin.call('sudo', 'retained', 'CH:a/')).body, { items: ['CH:a/y$'], next: null });

    const histories = (await admin.call('sudo', 'histories')).body as { items: Array<{ key: string; offset: number }> };
    assert.deepEqual(histories.items.map((h) => [h.key, h.offset]), [['CH:chat/room', 3]]);
    const read = (await admin.call('sudo', 'history', 'CH:chat/room', '1')).body as { entries: Array<{ offset: number; preview: string }> };
    assert.deepEqual(read.entries.map((e) => [e.offset, e.preview]), [[2, 'm2'], [3, 'm3']]);
    assert.equal((await admin.call('sudo', 'delhistory', 'CH:chat/room')).body, 1);
    assert.deepEqual(((await admin.call('sudo', 'histories')).body as { items: unknown[] }).items, []);

    const figures = (await admin.call('sudo', 'store')).body as { store: { kind: string; commits: number }; history: { channels: number } };
    assert.equal(figures.store.kind, 'lmdb');
    assert.ok(figures.store.commits > 0);

    const metrics = await (await fetch(`http://127.0.0.1:${portOf(server, 'ws')}/metrics`)).text();
    assert.match(metrics, /^iosig_store_size_bytes\{kind="lmdb"\} [1-9]/m);
    assert.match(metrics, /^iosig_store_writes_total [1-9]/m);
    assert.match(metrics, /^iosig_store_flush_lag_seconds /m);
    assert.match(metrics, /^iosig_history_channels 0/m);
  });
});
