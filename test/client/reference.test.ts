// The client library against the iosignal 2.2.1 reference server, which starts with SERVER_READY and no nonce.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IoClient } from '../../src/client/index.js';
import { nextEvent, startReferenceServer, type ReferenceServer } from './support.js';
import { TRANSPORTS, urlOf } from '../kit/server.js';

describe('IoClient against the iosignal 2.2.1 server', () => {
  let reference: ReferenceServer;
  const clients: IoClient[] = [];

  before(async () => {
    reference = await startReferenceServer();
  });
  after(async () => {
    for (const client of clients.splice(0)) client.close();
    await reference.stop();
  });

  for (const transport of TRANSPORTS) {
    it(`gets a CID, subscribes, receives, echoes and unicasts (${transport})`, async () => {
      const a = new IoClient(urlOf(reference, transport), { reconnectDelayMs: 50 });
      const b = new IoClient(urlOf(reference, transport === 'ws' ? 'cong' : 'ws'), { reconnectDelayMs: 50 });
      clients.push(a, b);
      assert.match(await a.whenReady(3000), /^\?/);
      await b.whenReady(3000);
      b.subscribe('ref');
      assert.equal(await b.echo('sync'), 'sync');
      const got = nextEvent(b, 'message', 2000, (m) => m.tag === 'ref');
      a.signal('ref', 'x', 1);
      assert.deepEqual((await got)[0].values, ['x', 1]);
      const uni = nextEvent(a, 'message', 2000, (m) => m.unicast);
      b.signal(`${a.cid}@u`, { k: 1 });
      assert.deepEqual((await uni)[0].values, [{ k: 1 }]);
      assert.equal((await a.iam()).cid, a.cid);
      assert.ok((await a.ping()) >= 0);
      a.close();
      b.close();
    });
  }
});
