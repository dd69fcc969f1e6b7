// A service that throws, synchronously or by rejecting, is answered INTERNAL_SERVER_ERROR and logged;
// the connection and the server go on serving (docs/protocol.md §7.1 step 5).
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { IosigServer } from '../../src/index.js';
import { decodeResponseMbp, encodeCall } from '../../src/protocol/rpc.js';
import { createReplyService } from '../../src/services/reply.js';
import type { Service } from '../../src/services/service.js';
import { ClientPool } from '../kit/raw-client.js';
import { sleep } from '../kit/wait.js';
import { ServicePeer, assertReply, startServer } from './support.js';
import { TRANSPORTS, portOf } from '../kit/server.js';

/** Test-only: `sync` throws at once, `async` rejects later, `ok` answers; checkPermission throws for `refuse`. */
function failingService(): Service {
  return {
    name: 'broken',
    commands: ['sync', 'async', 'ok', 'refuse'],
    checkPermission: (_caller, req) => {
      if (req.topic === 'refuse') throw new Error('permission check exploded');
      return true;
    },
    call: (_caller, req) => {
      if (req.topic === 'sync') throw new Error('sync failure');
      if (req.topic === 'async') return sleep(20).then(() => Promise.reject(new Error('async failure')));
      return { status: 0, body: 'fine' };
    },
  };
}

describe('failing services', () => {
  let server: IosigServer;
  const lines: string[] = [];
  const pool = new ClientPool();

  before(async () => {
    server = await startServer([failingService(), createReplyService()], { lines });
  });
  afterEach(() => pool.closeAll());
  after(() => server.close());

  for (const kind of TRANSPORTS) {
    it(`${kind}: sync throw, async rejection and a throwing permission check give INTERNAL_SERVER_ERROR`, async () => {
      const peer = await ServicePeer.anonymous(pool, kind, portOf(server, kind));
      const internal = { status: 255, body: 'INTERNAL_SERVER_ERROR' };
      assertReply(await peer.call('broken', 'sync'), internal, 'sync throw');
      assertReply(await peer.call('broken', 'async'), internal, 'async rejection');
      assertReply(await peer.call('broken', 'refuse'), internal, 'checkPermission throw');
      assertReply(await peer.call('broken', 'ok'), { status: 0, body: 'fine' }, 'the same service still answers');
      assertReply(await peer.call('reply', 'echo', 'alive'), { status: 0, body: ['alive'] }, 'other services still answer');
      assert.ok(lines.some((line) => line.includes('async failure')), 'the failure is logged');
      // A fresh connection is served too.
      const other = await ServicePeer.anonymous(pool, kind, portOf(server, kind));
      assertReply(await other.call('reply', 'echo', 'new'), { status: 0, body: ['new'] }, 'a new connection');
    });
  }

  it('a slow failing call does not hold up a later one: replies come back by mid', async () => {
    const peer = await ServicePeer.anonymous(pool, 'ws', portOf(server, 'ws'));
    peer.raw.send(encodeCall(7, 'broken', 'async'));
    peer.raw.send(encodeCall(8, 'broken', 'ok'));
    const first = decodeResponseMbp(await peer.raw.next(2000));
    const second = decodeResponseMbp(await peer.raw.next(2000));
    assert.deepEqual(first, { status: 0, mid: 8, body: 'fine' });
    assert.deepEqual(second, { status: 255, mid: 7, body: 'INTERNAL_SERVER_ERROR' });
  });
});
