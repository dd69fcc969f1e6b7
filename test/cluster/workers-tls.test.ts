// Issue 16 item 3 under mutual TLS, on a real `io-server --workers 2` host over a real redis-server: a socket is
// counted from its accept, takes one host place, and gives it back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { redisSkipReason } from '../kit/redis-server.js';
import type { RawClient } from '../kit/raw-client.js';
import { closeAll, getInAgain, workerHostFixture } from './workers-support.js';
import { countGetIn, getsIn } from '../kit/gets-in.js';
import { withTimeout } from '../kit/wait.js';
import { makeDevicePki, type DevicePki } from '../kit/device-pki.js';
import type { WireTls } from '../kit/wire.js';

describe('io-server --workers 2 under mutual TLS: a socket counted from its accept takes one host place, and gives it back', { skip: redisSkipReason() }, () => {
  const CAP = 5;
  const HANDSHAKE_MS = 2000;
  let pki: DevicePki | undefined;
  let tls: WireTls;
  before(() => {
    pki = makeDevicePki(['cl']);
    const client = pki.device('cl');
    tls = { ca: readFileSync(pki.ca), cert: readFileSync(client.cert), key: readFileSync(client.key) };
  });
  // Silent CongSocket clients below must outlive the block; a socket that never starts its handshake must not.
  const fixture = workerHostFixture('mtls', () => [
    ...['--tls-cert', pki!.serverCert, '--tls-key', pki!.serverKey, '--tls-ca', pki!.ca],
    ...['--max-connections-per-address', String(CAP), '--opening-timeout', '600000', '--handshake-timeout', String(HANDSHAKE_MS)],
  ]);
  const held: RawClient[] = [];
  after(async () => {
    await closeAll(held);
    pki?.remove();
  });

  // CongSocket over TLS: counted in the worker from the TCP accept, the host's place taken after the handshake.
  // WebSocket behind the mutual-TLS front: counted in the worker from the accept, the host's place taken at the
  // upgrade. Either way one place per connection, given back once when it closes.
  for (const [kind, address] of [['cong', '127.0.0.4'], ['ws', '127.0.0.5']] as const) {
    it(`${kind}: ${CAP} of 12 from one address get in over both workers, and each closed one frees exactly one place`, async () => {
      const host = fixture.host;
      host.metricsTls = tls;
      const port = kind === 'ws' ? host.wsPort : host.congPort;
      const refusedBefore = await host.sum('iosig_connections_refused_total', { cap: 'address' });
      const first: RawClient[] = [];
      const inside = await countGetIn(kind, port, address, 12, first, 12, { tls });
      held.push(...first);
      assert.equal(inside, CAP, 'the host\'s per-address cap, not one per worker');
      assert.equal(await host.sum('iosig_connections_refused_total', { cap: 'address' }) - refusedBefore, 12 - CAP, 'the refusals, summed over the workers');

      // Two leave: exactly two get in again (a place given back twice would let four in, one never given back none).
      await Promise.all(first.filter((c) => !c.closed).slice(0, 2).map((c) => c.close(500)));
      assert.equal(await getInAgain(kind, port, address, 2, held, { tls }), 2, 'the freed places are taken again');
      assert.equal(await getsIn(kind, port, address, held, { tls }), false, 'and the cap holds again');
    });
  }

  it(`cong: sockets that never start their TLS handshake are closed after --handshake-timeout and leave no place behind`, async () => {
    const host = fixture.host;
    host.metricsTls = tls;
    const silent = await Promise.all(
      Array.from({ length: CAP }, () =>
        new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect({ port: host.congPort, host: '127.0.0.1', localAddress: '127.0.0.6' }, () => resolve(socket));
          socket.once('error', reject);
          socket.resume(); // reads to the end, so the server's close is seen
        }),
      ),
    );
    const closed = Promise.all(silent.map((socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()))));
    await withTimeout(closed, HANDSHAKE_MS + 5000, 'the silent sockets to be closed');
    const timeouts = await host.sum('iosig_opening_timeouts_total', { stage: 'tls_handshake' });
    assert.ok(timeouts >= CAP, `counted as handshake timeouts (${timeouts})`);
    assert.equal(await getInAgain('cong', host.congPort, '127.0.0.6', CAP, held, { tls }), CAP, 'the address has all its places');
  });
});
