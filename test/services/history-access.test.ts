// The history service under the access rules (issues 18 and 20): reading a channel's past, or following it as
// positioned signals, needs what subscribing to it needs; a channel the rules do not let the caller read answers
// NO_PERMISSION and nothing of it is read. A positioned subscription is a subscription: a rule change that takes
// the right away ends it at once, with the same `access` notice a channel subscription gets.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { ClientPool } from '../kit/raw-client.js';
import { assertQuiet, text } from '../kit/messages.js';
import { portOf } from '../kit/server.js';
import { ServicePeer, startServer } from './support.js';
import { MSG } from '../../src/protocol/codes.js';
import { decodeSignalAt, SIGNAL_AT } from '../../src/history/signal-at.js';
import type { IosigServer } from '../../src/index.js';

const RULES = `
allow any subscribe,publish chat/open
allow any publish chat/secret
allow any call history
`;

describe('history reads are access-checked', () => {
  let server: IosigServer;
  let dir: string;
  let aclPath: string;
  const pool = new ClientPool();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iosig-history-acl-'));
    aclPath = join(dir, 'acl');
    await writeFile(aclPath, RULES);
    server = await startServer([], { server: { history: ['chat/#=100'], access: { aclFile: aclPath } } });
  });
  afterEach(async () => {
    await pool.closeAll();
    await writeFile(aclPath, RULES);
    await server.reloadAccess();
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('subscribe, read and position need subscribe on the channel; unsubscribe needs nothing', async () => {
    const peer = await ServicePeer.anonymous(pool, 'ws', portOf(server, 'ws'));
    const open = await peer.call('history', 'subscribe', 'chat/open');
    assert.equal(open.status, 0, 'an allowed channel');
    for (const command of [['subscribe', 'chat/secret'], ['read', 'chat/secret', 'e', '0'], ['position', 'chat/secret']]) {
      const denied = await peer.call('history', ...(command as [string, ...string[]]));
      assert.deepEqual([denied.status, denied.body], [255, 'NO_PERMISSION.'], command.join(' '));
    }
    assert.equal((await peer.call('history', 'unsubscribe', 'chat/secret')).status, 0);
  });

  for (const kind of ['ws', 'cong'] as const) {
    it(`${kind}: a rule change that revokes subscribe ends a positioned subscription at once, with the access notice`, async () => {
      const reader = await ServicePeer.anonymous(pool, kind, portOf(server, kind));
      const writer = await ServicePeer.anonymous(pool, 'ws', portOf(server, 'ws'));
      assert.equal((await reader.call('history', 'subscribe', 'chat/open')).status, 0);
      // Before the change: a signal on the channel reaches the reader as SIGNAL_AT (the path works).
      writer.raw.send(text('chat/open', 'before'));
      const { msg: first } = await reader.raw.nextOfType(SIGNAL_AT, 2000);
      assert.ok(decodeSignalAt(first), 'a SIGNAL_AT before the change');

      await writeFile(aclPath, RULES.replace('allow any subscribe,publish chat/open', 'allow any publish chat/open'));
      assert.equal(await server.reloadAccess(), true);
      const { msg } = await reader.raw.nextOfType(MSG.SERVER_SIGNAL, 2000);
      assert.deepEqual(JSON.parse(msg.subarray(1).toString('utf8')), { event: 'access', data: { unsubscribed: ['chat/open'], reason: 'access rules changed' } });
      writer.raw.send(text('chat/open', 'after'));
      await writer.raw.sync();
      await assertQuiet(reader.raw);
      // It is gone, not only silent: unsubscribing finds nothing to end.
      const gone = await reader.call('history', 'unsubscribe', 'chat/open');
      assert.equal(gone.status, 0);
      assert.notEqual(gone.body, 1, 'no positioned subscription was left to end');
    });
  }
});
