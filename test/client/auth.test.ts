// Login (§3.2, §4.4), session encryption (§4.5, §4.7), AUTH_FAIL and manual login, against a server with keys.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IoClient, type IoClientOptions } from '../../src/client/index.js';
import type { IosigServer } from '../../src/index.js';
import { sleep } from '../kit/wait.js';
import { nextEvent } from './support.js';
import { TRANSPORTS, startServer, urlOf } from '../kit/server.js';
import type { Transport } from '../kit/raw-client.js';

const KEYS = 'dev1.secret-key.D1.3,dev2.other-key.D2.12,dev3.third-key.D3.3,dev4.fourth-key.D4.3';
/** One identity per transport, so the two runs never meet the duplicate-login rule (§4.8). */
const LOGIN: Record<Transport, { idKey: string; cid: string; did: string }> = {
  ws: { idKey: 'dev1.secret-key', cid: 'D1', did: 'dev1' },
  cong: { idKey: 'dev3.third-key', cid: 'D3', did: 'dev3' },
};

describe('IoClient login and encryption', () => {
  let server: IosigServer;
  const lines: string[] = [];
  const clients: IoClient[] = [];

  before(async () => {
    server = await startServer({ auth: { param: KEYS }, showMessage: 'message', log: (line) => lines.push(line) });
  });
  after(async () => {
    for (const client of clients.splice(0)) client.close();
    await server.close();
  });

  function client(transport: Transport, options: IoClientOptions = {}): IoClient {
    const c = new IoClient(urlOf(server, transport), { reconnectDelayMs: 50, ...options });
    clients.push(c);
    return c;
  }

  /** The server's log of what arrived from `cid` since `mark`, as message type names. */
  function receivedTypes(cid: string, mark: number): string[] {
    return lines
      .slice(mark)
      .filter((line) => line.includes(`cid: ${cid} `))
      .map((line) => /\[(\w+)\]/.exec(line)?.[1] ?? '?');
  }

  for (const transport of TRANSPORTS) {
    it(`logs in with id.key, gets its stored CID and quota, and encrypts (${transport})`, async () => {
      const login = LOGIN[transport];
      const device = client(transport, { auth: login.idKey });
      const quota = nextEvent(device, 'quota', 3000);
      assert.equal(await device.whenReady(3000), login.cid);
      assert.equal((await quota)[0], 3);
      assert.equal(device.authorized, true);
      assert.equal(device.encrypting, true);

      const peer = client(transport === 'ws' ? 'cong' : 'ws');
      await peer.whenReady(3000);
      peer.subscribe('secure');
      await peer.echo('sync');
      const mark = lines.length;
      const delivered = nextEvent(peer, 'message', 2000, (m) => m.tag === 'secure');
      device.signal('secure', 'sealed on the wire');
      assert.deepEqual((await delivered)[0].values, ['sealed on the wire']);
      assert.deepEqual(receivedTypes(login.cid, mark), ['ENC_488'], 'AUTO encrypts once logged in on a plain transport');

      const info = await device.iam();
      assert.equal(info.did, login.did);
      assert.equal(info.cid, login.cid);
      assert.equal(await device.echo('enc'), 'enc');

      device.encMode = 'no';
      const mark2 = lines.length;
      device.signal('secure', 'plain now');
      await device.echo('sync');
      assert.deepEqual(receivedTypes(login.cid, mark2), ['SIGNAL', 'ECHO']);
      device.close();
      peer.close();
    });
  }

  it('accepts { id, key } and a level from the key store', async () => {
    const device = client('ws', { auth: { id: 'dev2', key: 'other-key' } });
    const quota = nextEvent(device, 'quota', 3000);
    assert.equal(await device.whenReady(3000), 'D2');
    assert.equal((await quota)[0], 12);
    assert.equal(device.quota.publishCounter, 100);
    device.close();
  });

  it('reports auth_fail for a wrong key and never becomes ready', async () => {
    const device = client('cong', { auth: 'dev1.wrong-key' });
    const [reason] = await nextEvent(device, 'auth_fail', 3000);
    assert.match(reason, /refused/);
    assert.equal(device.state, 'auth_fail');
    await sleep(100);
    assert.equal(device.cid, '');
    device.close();
  });

  it('logs in manually after an anonymous start and keeps its subscriptions (§3.2)', async () => {
    const anon = client('ws');
    const anonCid = await anon.whenReady(3000);
    assert.match(anonCid, /^\?/);
    anon.subscribe('kept');
    await anon.echo('sync');
    const again = nextEvent(anon, 'ready', 3000);
    assert.equal(anon.login('dev4.fourth-key'), true);
    assert.deepEqual(await again, ['D4']);
    assert.equal(anon.authorized, true);
    const info = await anon.iam();
    assert.equal(info.did, 'dev4');
    assert.deepEqual(info.tag, ['CH:kept']);
    anon.close();
  });

  it('ENC_MODE yes without a login sends nothing and warns', async () => {
    const anon = client('cong', { encMode: 'yes' });
    // An anonymous ready needs no encrypted message; the resubscription of nothing sends nothing.
    await anon.whenReady(3000);
    const warned = nextEvent(anon, 'warning', 1000);
    assert.equal(anon.signal('x', 'y'), false);
    assert.match((await warned)[0], /not logged in/);
    anon.close();
  });
});
