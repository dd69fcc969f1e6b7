// Issue 9 item 9: connection floods. A global cap and a per-address cap refuse new connections at once on both
// transports (503 before the WebSocket upgrade; an immediate close on CongSocket), refusals are counted, the
// server stays idle at the cap, and a connection that leaves frees its place.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientPool, type RawClient, type Transport } from '../kit/raw-client.js';
import { getsIn } from '../kit/gets-in.js';
import { waitFor } from '../kit/wait.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { parsePrometheus, request, sampleValue } from '../http/support.js';
import { defaultMaxConnections } from '../../src/guard/admission.js';
import { inside } from '../kit/inside.js';

const GLOBAL = 12;
const PER_ADDRESS = 4;

/** Opens a connection from `localAddress` and reports whether the server took it on (greeting) or refused it. */
function tryConnect(server: IosigServer, kind: Transport, localAddress: string, pool: RawClient[]): Promise<boolean> {
  return getsIn(kind, portOf(server, kind), localAddress, pool);
}

describe('connection caps', () => {
  let server: IosigServer;
  const open: RawClient[] = [];

  before(async () => {
    server = await startServer({ maxConnections: GLOBAL, maxConnectionsPerAddress: PER_ADDRESS });
  });
  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.close(300)));
    await server.close();
  });

  it('refuses a fifth connection from one address on both transports, but not from another address', async () => {
    const results: boolean[] = [];
    for (let i = 0; i < PER_ADDRESS + 2; i++) results.push(await tryConnect(server, i % 2 === 0 ? 'cong' : 'ws', '127.0.0.2', open));
    assert.deepEqual(results, [true, true, true, true, false, false]);
    assert.equal(inside(server).stats.refusedAddress, 2);
    assert.equal(await tryConnect(server, 'ws', '127.0.0.3', open), true, 'another address still gets in');
  });

  it('refuses everyone at the global cap, stays idle there, and lets in one more when one leaves', async () => {
    let address = 4;
    while (inside(server).registry.sessions.size < GLOBAL) {
      for (let i = 0; i < PER_ADDRESS && inside(server).registry.sessions.size < GLOBAL; i++) {
        assert.equal(await tryConnect(server, i % 2 === 0 ? 'ws' : 'cong', `127.0.0.${address}`, open), true);
      }
      address++;
    }
    const before = inside(server).stats.refusedGlobal;
    const fresh = `127.0.0.${address + 1}`;
    for (const kind of ['ws', 'cong', 'ws', 'cong'] as const) assert.equal(await tryConnect(server, kind, fresh, open), false, `${kind} over the global cap`);
    assert.equal(inside(server).stats.refusedGlobal - before, 4);

    // At the cap nothing spins: the process is idle over a second.
    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const used = process.cpuUsage(cpu);
    const share = (used.user + used.system) / (Number(process.hrtime.bigint() - start) / 1000);
    console.log(`# CPU at the cap over 1 s: ${(share * 100).toFixed(1)} %`);
    assert.ok(share < 0.2, `CPU ${(share * 100).toFixed(1)} % at the cap`);

    const metrics = parsePrometheus((await request(server.wsPort!, '/metrics')).body);
    assert.equal(sampleValue(metrics, 'iosig_connections_refused_total{cap="global"}'), inside(server).stats.refusedGlobal);
    assert.equal(sampleValue(metrics, 'iosig_connections_refused_total{cap="address"}'), inside(server).stats.refusedAddress);

    const leaving = open.find((c) => !c.closed)!;
    await leaving.close(500);
    await waitFor(() => inside(server).registry.sessions.size < GLOBAL, 2000, 'the server to see the close');
    assert.equal(await tryConnect(server, 'cong', fresh, open), true, 'a freed place is taken');
  });

  it('keeps the default global cap under the descriptor limit with room to spare', () => {
    assert.equal(defaultMaxConnections(20_000), 18_000);
    assert.equal(defaultMaxConnections(1024), 768);
    assert.ok(inside(server).options.maxConnections > 0);
  });
});

describe('per-address cap behind a trusted proxy', () => {
  const pool = new ClientPool();
  let server: IosigServer;
  before(async () => {
    server = await startServer({ maxConnectionsPerAddress: 2 });
  });
  after(async () => {
    await pool.closeAll();
    await server.close();
  });

  it('counts the forwarded client address, not the proxy', async () => {
    const via = (client: string) => pool.ready('ws', server.wsPort!, { headers: { 'x-forwarded-for': client } });
    await via('203.0.113.7');
    await via('203.0.113.7');
    await assert.rejects(via('203.0.113.7'), 'third from the same client');
    await via('203.0.113.8');
    assert.equal(inside(server).stats.refusedAddress, 1);
  });
});
