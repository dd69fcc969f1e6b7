// wss:// and congs:// (CongSocket over TLS) through a TLS front, certificate checks, and the TLS rule of §4.7.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IoClient, type IoClientOptions } from '../../src/client/index.js';
import type { IosigServer } from '../../src/index.js';
import { nextEvent } from './support.js';
import { TEST_CERT, startTlsFront, type TlsFront } from '../kit/tls-fixture.js';
import { startServer } from '../kit/server.js';

describe('IoClient over TLS', () => {
  let server: IosigServer;
  let wsFront: TlsFront;
  let congFront: TlsFront;
  const lines: string[] = [];
  const clients: IoClient[] = [];

  before(async () => {
    server = await startServer({ auth: { param: 'tls1.tls-key.T1.3' }, showMessage: 'message', log: (line) => lines.push(line) });
    wsFront = await startTlsFront(server.wsPort!);
    congFront = await startTlsFront(server.congPort!);
  });
  after(async () => {
    for (const client of clients.splice(0)) client.close();
    await wsFront.close();
    await congFront.close();
    await server.close();
  });

  function client(url: string, options: IoClientOptions): IoClient {
    const c = new IoClient(url, { reconnectDelayMs: 50, ...options });
    clients.push(c);
    return c;
  }

  for (const scheme of ['wss', 'congs'] as const) {
    it(`${scheme}:// works with a trusted CA, and AUTO does not encrypt on TLS`, async () => {
      const port = scheme === 'wss' ? wsFront.port : congFront.port;
      const device = client(`${scheme}://127.0.0.1:${port}`, { auth: 'tls1.tls-key', tls: { ca: TEST_CERT } });
      assert.equal(await device.whenReady(3000), 'T1');
      assert.equal(device.address.tls, true);
      assert.equal(device.authorized, true);
      assert.equal(device.encrypting, false, 'AUTO leaves encryption to TLS (§4.7)');
      device.subscribe('over-tls');
      const back = nextEvent(device, 'message', 2000, (m) => m.tag === 'over-tls');
      const mark = lines.length;
      device.signal('over-tls', 'hello');
      // The server sees a plain connection behind the front, so its answers come encrypted; both forms are read.
      assert.deepEqual((await back)[0].values, ['hello']);
      assert.ok(lines.slice(mark).some((line) => line.includes('[SIGNAL] did: tls1')), 'sent without ENC_488');
      device.close();
      await nextEvent(device, 'close', 2000);
    });

    it(`${scheme}:// refuses an untrusted certificate unless told not to check`, async () => {
      const port = scheme === 'wss' ? wsFront.port : congFront.port;
      const strict = client(`${scheme}://127.0.0.1:${port}`, { reconnect: false });
      const [info] = await nextEvent(strict, 'close', 3000);
      assert.ok(info.error);
      assert.match(info.reason, /certificate/i);
      const lax = client(`${scheme}://127.0.0.1:${port}`, { tls: { rejectUnauthorized: false } });
      assert.match(await lax.whenReady(3000), /^\?/);
      lax.close();
    });
  }
});
