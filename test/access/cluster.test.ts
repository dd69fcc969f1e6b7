// Issue 18 across two cluster nodes on a real redis-server, with the rules in Redis (--acl-redis): deliveries that
// arrive from the other node reach only subscriptions the rules allow, a publish denied on one node reaches no
// node, a retained value fetched from Redis is replayed only where subscribe is allowed, a unicast to a CID on the
// other node needs send — and a rule change written to Redis ends the denied subscriptions on every node within a
// second, with the notice.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { IosigServer } from '../../src/index.js';
import { MSG } from '../../src/protocol/codes.js';
import { decodeResponseMbp } from '../../src/protocol/rpc.js';
import { writeAclToRedis } from '../../src/access/acl-redis.js';
import { redisTarget } from '../../src/auth/redis-target.js';
import { redisSkipReason } from '../kit/redis-server.js';
import { REDIS_ENGINE, type BusEngineRun } from '../cluster/engines.js';
import { ClientPool, type RawClient } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { assertQuiet, sub, subReq, text } from '../kit/messages.js';
import { interestKnown, settled, startNodeServer } from '../cluster/broker-support.js';
import { inside } from '../kit/inside.js';

const PREFIX = 'aclx';
const OPERATOR = '127.0.0.2';
const RULES = `
allow address:${OPERATOR} all *
allow any subscribe,publish ok
allow any send +@open
`;

async function status(c: RawClient, mid: number, tags: string): Promise<{ status: number; replayed: number }> {
  c.send(subReq(mid, tags));
  const { msg, skipped } = await c.nextOfType(MSG.RESPONSE_MBP, 2000);
  return { status: decodeResponseMbp(msg)!.status, replayed: skipped.filter((m) => m[0] === MSG.SIGNAL).length };
}

describe('access rules across two cluster nodes, rules in Redis (issue 18)', { skip: redisSkipReason() }, () => {
  let run: BusEngineRun;
  let commands: Redis;
  let a: IosigServer;
  let b: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    run = await REDIS_ENGINE.start();
    const redis = run.redis!;
    commands = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    await writeAclToRedis(commands, PREFIX, RULES);
    const access = { aclRedis: { target: redisTarget(redis.url, {}), prefix: PREFIX, pollMs: 1000 } };
    a = await startNodeServer(run, PREFIX, { access });
    b = await startNodeServer(run, PREFIX, { access });
  });
  afterEach(async () => {
    await pool.closeAll();
    await writeAclToRedis(commands, PREFIX, RULES);
  });
  after(async () => {
    commands.disconnect();
    await a.close();
    await b.close();
    await run.stop();
  });

  const on = (server: IosigServer, address = '127.0.0.1'): Promise<RawClient> => pool.ready('cong', server.congPort!, { localAddress: address });

  it('a delivery from the other node reaches only what its subscriber may read; a denied publish reaches no node', async () => {
    const reader = await on(b);
    assert.deepEqual(await status(reader, 1, 'ok'), { status: 0, replayed: 0 });
    assert.deepEqual(await status(reader, 2, 'no'), { status: 255, replayed: 0 });
    const opB = await on(b, OPERATOR);
    opB.send(sub('no'));
    await opB.sync();
    await interestKnown('CH:ok', [a]);
    await interestKnown('CH:no', [a]);
    const opA = await on(a, OPERATOR);
    const device = await on(a);
    opA.send(text('no', 'operator to no'));
    device.send(text('no', 'device to no'));
    device.send(text('ok', 'device to ok'));
    assert.ok((await reader.nextOfType(MSG.SIGNAL, 2000)).msg.includes(Buffer.from('device to ok')));
    assert.ok((await opB.nextOfType(MSG.SIGNAL, 2000)).msg.includes(Buffer.from('operator to no')));
    await assertQuiet(reader, opB);
  });

  it('a retained value fetched from Redis is replayed on the other node only where subscribe is allowed', async () => {
    const opA = await on(a, OPERATOR);
    opA.send(text('sec/$r', 'secret'));
    await opA.sync();
    await waitFor(() => inside(a).router.retained.has('CH:sec/$r'), 2000, 'retained on A');
    let stored = 0;
    await waitFor(
      () => {
        void commands.exists(`${PREFIX}:r:CH:sec/$r`).then((n) => (stored = n));
        return stored === 1;
      },
      3000,
      'written to Redis',
      50,
    );
    // A replay from Redis comes after the answer: the denied reader asks first, the operator's replay after it.
    const reader = await on(b);
    assert.deepEqual(await status(reader, 1, 'sec/$r'), { status: 255, replayed: 0 });
    const opB = await on(b, OPERATOR);
    assert.equal((await status(opB, 1, 'sec/$r')).status, 0);
    assert.ok((await opB.nextOfType(MSG.SIGNAL, 2000)).msg.includes(Buffer.from('secret')));
    await assertQuiet(reader);
  });

  it('a unicast to a CID on the other node needs send on <cid>@<topic>', async () => {
    const opB = await on(b, OPERATOR);
    await settled(b);
    const device = await on(a);
    device.send(text(`${opB.cid}@shut`, 'denied'));
    device.send(text(`${opB.cid}@open`, 'allowed'));
    assert.ok((await opB.nextOfType(MSG.SIGNAL, 2000)).msg.includes(Buffer.from('allowed')));
    await assertQuiet(opB);
  });

  it('a rule change written to Redis ends the denied subscriptions on every node within a second, with a notice', async () => {
    const onA = await on(a);
    const onB = await on(b);
    assert.equal((await status(onA, 1, 'ok')).status, 0);
    assert.equal((await status(onB, 1, 'ok')).status, 0);
    const started = Date.now();
    await writeAclToRedis(commands, PREFIX, RULES.replace('allow any subscribe,publish ok', 'allow any publish ok'));
    for (const c of [onA, onB]) {
      const { msg } = await c.nextOfType(MSG.SERVER_SIGNAL, 2000);
      assert.deepEqual(JSON.parse(msg.subarray(1).toString('utf8')).data.unsubscribed, ['ok']);
    }
    const took = Date.now() - started;
    assert.ok(took < 1000, `the change reached both nodes in ${took} ms`);
    const opA = await on(a, OPERATOR);
    opA.send(text('ok', 'after'));
    await opA.sync();
    await assertQuiet(onA, onB);
  });
});
