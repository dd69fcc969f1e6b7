// The reply service and the CALL procedure around it (docs/protocol.md §7.1, §7.2, §7.4, Q10–Q12) over ws and cong.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { IosigServer } from '../../src/index.js';
import { encodeCall } from '../../src/protocol/rpc.js';
import { createReplyService } from '../../src/services/reply.js';
import { ClientPool } from '../kit/raw-client.js';
import { DEVICE, ServicePeer, assertReply, startServer } from './support.js';
import { TRANSPORTS, portOf } from '../kit/server.js';

const RFC_7231_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

describe('reply service', () => {
  let server: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    server = await startServer([createReplyService()]);
  });
  afterEach(() => pool.closeAll());
  after(() => server.close());

  it('answers echo with the exact bytes of the §7.2 example', async () => {
    const peer = await ServicePeer.anonymous(pool, 'ws', portOf(server, 'ws'));
    peer.raw.send(encodeCall(1, 'reply', 'echo', 'hello', 5));
    const wire = await peer.raw.next(2000);
    const meta = '[["status","8",1,1],["mid","16",2,2],["body","O",4,11]]';
    const expected = Buffer.concat([Buffer.from('dd000001', 'hex'), Buffer.from('["hello",5]' + meta), Buffer.from([0x00, meta.length])]);
    assert.equal(wire.toString('hex'), expected.toString('hex'));
  });

  for (const kind of TRANSPORTS) {
    for (const who of ['anonymous', 'logged in'] as const) {
      describe(`${kind}, ${who}`, () => {
        const connect = (): Promise<ServicePeer> =>
          who === 'anonymous'
            ? ServicePeer.anonymous(pool, kind, portOf(server, kind))
            : ServicePeer.login(pool, kind, portOf(server, kind), DEVICE.id, DEVICE.key);

        it('echo returns the args as JSON; replies are encrypted only when logged in', async () => {
          const peer = await connect();
          const res = await peer.call('reply', 'echo', 'hello', 5, { a: [1, 2] });
          assertReply(res, { status: 0, body: ['hello', 5, { a: [1, 2] }] }, 'echo');
          assert.equal(res.encrypted, who === 'logged in', 'RESPONSE_MBP goes through the encryption rule');
        });

        it('echo with no args, or a falsy first arg, has nothing to echo (Q10)', async () => {
          const peer = await connect();
          assertReply(await peer.call('reply', 'echo'), { status: 255, body: 'no message to echo' }, 'echo');
          assertReply(await peer.call('reply', 'echo', 0, 1), { status: 255, body: 'no message to echo' }, 'echo 0 1');
          assertReply(await peer.call('reply', 'echo', '', 'x'), { status: 255, body: 'no message to echo' }, 'echo "" x');
          assertReply(await peer.call('reply', 'echo', 'a', false, 'b'), { status: 0, body: ['a'] }, 'echo a false b');
        });

        it('date is an RFC 7231 UTC date close to now', async () => {
          const peer = await connect();
          const res = await peer.call('reply', 'date');
          assert.equal(res.status, 0);
          assert.equal(typeof res.body, 'string');
          assert.match(String(res.body), RFC_7231_DATE);
          assert.ok(Math.abs(Date.parse(String(res.body)) - Date.now()) < 5000, 'date is now');
        });

        it('unixtime is whole seconds, sent as a number', async () => {
          const peer = await connect();
          const res = await peer.call('reply', 'unixtime');
          assert.equal(res.status, 0);
          assert.equal(typeof res.body, 'number');
          assert.ok(Number.isInteger(res.body));
          assert.ok(Math.abs(Number(res.body) - Date.now() / 1000) < 5, 'unixtime is now');
        });

        it('an unknown service gets UNKNOWN_SERVICE (Q12 fix), an unknown command UNKNOWN_COMMAND', async () => {
          const peer = await connect();
          assertReply(await peer.call('nosuch', 'echo', 'x'), { status: 255, body: 'UNKNOWN_SERVICE' }, 'unknown service');
          assertReply(await peer.call('reply', 'ECHO', 'x'), { status: 255, body: 'UNKNOWN_COMMAND' }, 'ECHO in upper case');
          assertReply(await peer.call('reply', 'toString'), { status: 255, body: 'UNKNOWN_COMMAND' }, 'an Object method name');
          assertReply(await peer.call('reply', 'echo', 'still here'), { status: 0, body: ['still here'] }, 'then echo');
        });
      });
    }
  }
});
