// The history service under the access rules (issues 18 and 20): reading a channel's past, or following it as
// positioned signals, needs what subscribing to it needs; a channel the rules do not let the caller read answers
// NO_PERMISSION and nothing of it is read.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { ClientPool } from '../kit/raw-client.js';
import { portOf } from '../kit/server.js';
import { ServicePeer, startServer } from './support.js';
import type { IosigServer } from '../../src/index.js';

const RULES = `
allow any subscribe,publish chat/open
allow any publish chat/secret
allow any call history
`;

describe('history reads are access-checked', () => {
  let server: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    server = await startServer([], { server: { history: ['chat/#=100'], access: { aclText: RULES } } });
  });
  afterEach(() => pool.closeAll());
  after(() => server.close());

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
});
