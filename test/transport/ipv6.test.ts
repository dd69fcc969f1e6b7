// Dual-stack listening (issue 11 item 5): the default host `::` takes IPv6 and IPv4 peers on both
// transports; IPv4 peers still show as IPv4 (no `::ffff:`) and keep their home keys.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createServer, type IosigServer } from '../../src/index.js';
import { IoClient } from '../../src/client/index.js';
import { homePrefix, normalizeIp } from '../../src/guard/address.js';
import { resolveOptions } from '../../src/options.js';
import { nextEvent } from '../client/support.js';
import { inside } from '../kit/inside.js';
import { TRANSPORTS } from '../kit/server.js';

describe('addresses from a dual-stack socket', () => {
  it('turn IPv4-mapped IPv6, in short or fully expanded form, back into IPv4', () => {
    assert.equal(normalizeIp('::ffff:8.8.4.4'), '8.8.4.4');
    assert.equal(normalizeIp('0000:0000:0000:0000:0000:ffff:0808:0404'), '8.8.4.4');
    assert.equal(normalizeIp('0000:0000:0000:0000:0000:ffff:7f00:0001'), '127.0.0.1');
    assert.equal(normalizeIp('0000:0000:0000:0000:0000:0000:0000:0001'), '127.0.0.1');
    assert.equal(normalizeIp('203.0.113.9'), '203.0.113.9');
  });

  it('print other IPv6 in the short canonical form, with one home key per address', () => {
    assert.equal(normalizeIp('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
    assert.equal(normalizeIp('2001:db8:0:1:0:0:0:5'), '2001:db8:0:1::5');
    assert.equal(normalizeIp('fe80:0000:0000:0000:0000:0000:0000:0001'), 'fe80::1');
    assert.equal(homePrefix(normalizeIp('2001:0db8:0000:0000:0000:0000:0000:0001')), 'IP:20010db8000000000000000000000001');
    assert.equal(homePrefix(normalizeIp('0000:0000:0000:0000:0000:ffff:0808:0404')), 'IP:08080404');
    assert.equal(homePrefix(normalizeIp('fe80::1')), 'PRIVATE:');
  });

  it('listen on :: by default', () => {
    assert.equal(resolveOptions({ port: 0 }).host, '::');
  });
});

describe('listening on :: (the default host)', () => {
  let server: IosigServer;
  const clients: IoClient[] = [];
  after(async () => {
    for (const client of clients) client.close();
    await server?.close();
  });

  for (const transport of TRANSPORTS) {
    for (const host of ['127.0.0.1', '[::1]']) {
      it(`accepts ${transport}://${host} and shows the peer as 127.0.0.1`, async () => {
        server ??= await createServer({ port: 0, congPort: 0, log: () => {} });
        const port = transport === 'ws' ? server.wsPort : server.congPort;
        const client = new IoClient(`${transport}://${host}:${port}`, { reconnect: false });
        clients.push(client);
        const [cid] = await nextEvent(client, 'ready', 5000);
        const info = inside(server).connectionByCid(cid);
        assert.ok(info, 'the server knows the connection');
        assert.equal(info.ip, '127.0.0.1');
        assert.equal(info.transport, transport);
        const iam = await client.iam();
        assert.equal(iam.ip, '127.0.0.1');
        // A signal to the home channel reaches the sender itself (loopback peers share PRIVATE:).
        client.subscribe('#room');
        const got = nextEvent(client, 'message', 3000, (m) => m.tag === '#room');
        await client.echo('sync');
        client.signal('#room', 'hi');
        assert.equal((await got)[0].values[0], 'hi');
        client.close();
      });
    }
  }
});
