// A connection's kind comes from its link (a plain device) or from what its client declares: an io-serial bridge
// sends `X-Iosig-Device: serial` on its WebSocket upgrade (the client library's `device` option), and every
// version of it names itself `serial:<port>` in its IAM, which is how CongSocket bridges and older versions say so.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IoClient } from '../../src/client/index.js';
import type { IosigServer } from '../../src/index.js';
import { startServer, urlOf } from '../kit/server.js';

let server: IosigServer;

function kindOf(cid: string): string | undefined {
  return server.connectionList().find((c) => c.cid === cid)?.kind;
}

describe('device kind', () => {
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('a WebSocket client that declares device serial is listed as serial from its first message, whatever its nick', async () => {
    const bridge = new IoClient(urlOf(server, 'ws'), { device: 'serial', reconnect: false });
    const plain = new IoClient(urlOf(server, 'ws'), { reconnect: false });
    try {
      await Promise.all([bridge.whenReady(3000), plain.whenReady(3000)]);
      assert.equal(kindOf(bridge.cid), 'serial', 'declared at the upgrade, before any IAM');
      assert.equal(kindOf(plain.cid), 'iosignal');
      await bridge.iam('lamp');
      assert.equal(kindOf(bridge.cid), 'serial', 'a nick does not undo what the upgrade declared');
    } finally {
      bridge.close();
      plain.close();
    }
  });

  for (const transport of ['ws', 'cong'] as const) {
    it(`over ${transport}, an IAM serial:<port> declares a serial bridge (as older io-serial versions do) until another nick`, async () => {
      const client = new IoClient(urlOf(server, transport), { reconnect: false });
      try {
        await client.whenReady(3000);
        assert.equal(kindOf(client.cid), 'iosignal');
        await client.iam('serial:ttyUSB0');
        assert.equal(kindOf(client.cid), 'serial');
        assert.equal(server.connectionList().find((c) => c.cid === client.cid)?.nick, 'serial:ttyUSB0');
        await client.iam('ttyUSB0');
        assert.equal(kindOf(client.cid), 'iosignal');
      } finally {
        client.close();
      }
    });
  }
});
