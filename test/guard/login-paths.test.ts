// Issue 16 items 6, 11 and 12: one rule for every login path.
// - Duplicate logins: whichever way a device logs in (Boho, bearer key, client certificate) and whichever way the
//   old session came in, keep-old probes the old session and a silent one loses; replace gives the old one
//   AUTH_CLEAR. Checked at exact instants on a manual clock over the in-memory link, then over real sockets.
// - Bearer refusals: one neutral close reason, after the AUTH_FAIL delay; cleartext keys refused; throttled
//   attempts logged within a per-address and a global budget.
// One device id per certificate (item 12) is in certificate-id.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, afterEach, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { MSG } from '../../src/protocol/codes.js';
import type { PresentedIdentity } from '../../src/guard/identity.js';
import type { MemoryLinkOptions } from '../../src/transport/memory.js';
import { THROTTLED_LOGIN_LINES_PER_SECOND } from '../../src/broker/log-sink.js';
import { ClientPool, type RawClient, type RawClientOptions, type Transport } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { makeDevicePki, type DevicePki } from '../kit/device-pki.js';
import { ManualClock } from '../kit/manual-clock.js';
import { startServer, type IosigServer } from '../kit/server.js';
import { Peer, drained } from '../kit/peer.js';
import type { Connection } from '../../src/connection/connection.js';
import { inside } from '../kit/inside.js';
import { hex } from '../kit/messages.js';

/** How a device logs in. */
type Way = 'boho' | 'bearer' | 'certificate';
const WAYS: readonly Way[] = ['boho', 'bearer', 'certificate'];
const KEY = 'k3y';

const LETTER: Record<Way, string> = { boho: 'o', bearer: 'b', certificate: 'c' };
/** One id per case: a prefix (live, silent, replace), the old way, the new way (ids are at most 8 bytes). */
const caseId = (prefix: string, old: Way, fresh: Way): string => `${prefix}${LETTER[old]}${LETTER[fresh]}`;

function identityOf(way: Way, id: string): PresentedIdentity | null {
  if (way === 'bearer') return { kind: 'bearer', id, key: KEY };
  if (way === 'certificate') return { kind: 'certificate', id };
  return null;
}

/** The server's in-memory link, presenting `identity` as a TLS handshake or an upgrade header would. */
function memoryTarget(server: IosigServer, identity: PresentedIdentity | null) {
  return { memory: { connectInMemory: (opts?: MemoryLinkOptions) => server.connectInMemory({ ...opts, ...(identity ? { identity } : {}) }) } };
}

/** A greeted peer on the server's in-memory link, presenting `identity` (null: none). */
async function memoryPeer(pool: ClientPool, server: IosigServer, kind: Transport, opts: RawClientOptions, identity: PresentedIdentity | null): Promise<Peer> {
  const raw = await pool.open(kind, memoryTarget(server, identity), opts);
  const peer = new Peer(raw);
  peer.raw = raw;
  await peer.greet();
  return peer;
}

/** Reads QUOTA_LEVEL (a certificate or bearer login admitted); returns the level. */
async function expectAdmitted(raw: RawClient, ms = 2000): Promise<number> {
  const quota = await raw.next(ms);
  assert.equal(quota[0], MSG.QUOTA_LEVEL, `QUOTA_LEVEL expected, got ${hex(quota)}`);
  return quota[1]!;
}

describe('duplicate logins: one rule for Boho, bearer and certificate logins (manual clock, in memory)', () => {
  const PROBE_MS = 2000;
  const FAIL_MS = 600;
  const pool = new ClientPool();
  const clock = new ManualClock();
  const lines: string[] = [];
  let server: IosigServer;
  const ids = WAYS.flatMap((old) => WAYS.flatMap((fresh) => [caseId('s', old, fresh), caseId('l', old, fresh)]));

  before(async () => {
    server = await startServer(
      { auth: { param: ids.map((id) => `${id}.${KEY}.${id.toUpperCase()}.3`).join(',') }, clock, duplicateProbeTimeout: PROBE_MS, authFailDelay: FAIL_MS },
      lines,
    );
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(() => server.close());

  /** A session of `way` on the in-memory link, logged in; `live` answers keepalive probes. */
  async function loggedInAs(way: Way, id: string, live: boolean): Promise<Peer> {
    const kind: Transport = way === 'bearer' ? 'ws' : 'cong';
    const peer = await memoryPeer(pool, server, kind, { autoPong: live }, identityOf(way, id));
    if (way === 'boho') await peer.login(id, KEY);
    else await expectAdmitted(peer.raw!);
    return peer;
  }

  /** A new session of `way` for `id` (on the WebSocket flavour), its login under way. */
  async function arrive(way: Way, id: string): Promise<Peer> {
    const peer = await memoryPeer(pool, server, 'ws', {}, identityOf(way, id));
    if (way === 'boho') peer.wire.send(peer.authReq(id, KEY));
    return peer;
  }

  async function expectWon(way: Way, peer: Peer): Promise<void> {
    if (way === 'boho') assert.equal(await peer.expectAuthOk(), 3);
    else assert.equal(await expectAdmitted(peer.raw!), 3);
  }

  for (const old of WAYS) {
    for (const fresh of WAYS) {
      it(`keep-old: a silent old ${old} session loses to a new ${fresh} login exactly at the probe deadline`, async () => {
        const id = caseId('s', old, fresh);
        const cid = id.toUpperCase();
        await loggedInAs(old, id, false);
        const holder = inside(server).router.cids.get(cid) as Connection;
        const idle = clock.pending;
        const late = await arrive(fresh, id);
        await waitFor(() => clock.pending === idle + 1, 2000, 'the probe of the old session');
        clock.advance(PROBE_MS - 1);
        assert.equal(inside(server).router.cids.get(cid), holder, 'the old session keeps the cid until the deadline');
        assert.equal(holder.closed, false);
        clock.advance(1);
        await expectWon(fresh, late);
        assert.notEqual(inside(server).router.cids.get(cid), holder, 'the new session holds the cid');
        await waitFor(() => holder.closed, 2000, 'the stale session closed');
        assert.ok(lines.some((line) => line.includes('stale session: no answer within 2000 ms')), lines.join('\n'));
      });

      it(`keep-old: a live old ${old} session keeps the cid against a new ${fresh} login`, async () => {
        const id = caseId('l', old, fresh);
        const cid = id.toUpperCase();
        await loggedInAs(old, id, true);
        const holder = inside(server).router.cids.get(cid) as Connection;
        const late = await arrive(fresh, id);
        await waitFor(() => lines.some((line) => line.includes(`duplicate login for cid "${cid}" (keep old`)), 2000, 'the refusal');
        // Refused like any login: after the AUTH_FAIL delay.
        clock.advance(FAIL_MS);
        if (fresh === 'boho') assert.equal(hex(await late.wire.next(2000)), 'b3', 'AUTH_FAIL for the newcomer');
        else await late.wire.waitClosed(2000);
        assert.equal(inside(server).router.cids.get(cid), holder);
        assert.equal(holder.closed, false);
      });
    }
  }
});

describe('duplicate logins under replace: the old session of any way gets AUTH_CLEAR (in memory)', () => {
  const pool = new ClientPool();
  let server: IosigServer;
  const ids = WAYS.flatMap((old) => WAYS.map((fresh) => caseId('r', old, fresh)));

  before(async () => {
    server = await startServer({ auth: { param: ids.map((id) => `${id}.${KEY}.${id.toUpperCase()}.3`).join(',') }, duplicateLogin: 'replace', authFailDelay: 10 });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(() => server.close());

  for (const old of WAYS) {
    for (const fresh of WAYS) {
      it(`a new ${fresh} login replaces an old ${old} session`, async () => {
        const id = caseId('r', old, fresh);
        const first = await memoryPeer(pool, server, 'ws', {}, identityOf(old, id));
        if (old === 'boho') await first.login(id, KEY);
        else await expectAdmitted(first.raw!);
        const second = await memoryPeer(pool, server, 'ws', {}, identityOf(fresh, id));
        if (fresh === 'boho') {
          second.wire.send(second.authReq(id, KEY));
          assert.equal(await second.expectAuthOk(), 3);
        } else {
          assert.equal(await expectAdmitted(second.raw!), 3);
        }
        const { msg } = await first.raw!.nextOfType(MSG.AUTH_CLEAR, 2000);
        assert.equal(msg.subarray(1).toString('utf8').replace(/\0$/, ''), 'duplicate login.');
        await first.wire.waitClosed(2000);
        assert.equal(inside(server).connectionByCid(id.toUpperCase())?.authorized, true);
      });
    }
  }
});

/** A `ws` client; resolves on open, records the close. */
class WsDevice {
  readonly ws: WebSocket;
  closed: { code: number; reason: string } | null = null;
  private readonly opened: Promise<void>;

  constructor(url: string, headers: Record<string, string>, tls?: { ca: Buffer; cert?: Buffer; key?: Buffer }) {
    this.ws = new WebSocket(url, { headers, ...tls });
    this.ws.on('error', () => undefined);
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('close', () => reject(new Error('closed before it opened')));
    });
  }

  open(): Promise<void> {
    return this.opened;
  }

  async waitClosed(ms = 3000): Promise<{ code: number; reason: string }> {
    await waitFor(() => this.closed !== null, ms, 'the server to close the device');
    return this.closed!;
  }

  close(): void {
    this.ws.terminate();
  }
}

describe('duplicate logins over real sockets: bearer (ws, /plain/) and certificates (congs, wss)', () => {
  const PROBE_MS = 300;
  const pool = new ClientPool();
  const devices: WsDevice[] = [];
  let pki: DevicePki;
  let plain: IosigServer;
  let mutual: IosigServer;
  const KEYS = `bold.${KEY}.BOLD.3,blive.${KEY}.BLIVE.3,cold.${KEY}.COLD.3,clive.${KEY}.CLIVE.3`;

  before(async () => {
    pki = makeDevicePki(['cold', 'clive']);
    const options = { auth: { param: KEYS }, duplicateProbeTimeout: PROBE_MS, authFailDelay: 50 };
    plain = await startServer(options);
    mutual = await startServer({ ...options, tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca } });
  });
  afterEach(async () => {
    for (const device of devices.splice(0)) device.close();
    await pool.closeAll();
    await drained(plain, mutual);
  });
  after(async () => {
    await plain.close();
    await mutual.close();
    pki.remove();
  });

  function tlsOf(name: string) {
    const files = pki.device(name);
    return { ca: readFileSync(pki.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) };
  }

  it('a board whose old bearer session went silent logs in again on /plain/ after the probe', async () => {
    const headers = { Authorization: `Bearer bold.${KEY}` };
    const old = await pool.open('ws', plain.wsPort!, { headers, autoPong: false });
    assert.equal((await old.nextOfType(MSG.QUOTA_LEVEL, 2000)).msg[1], 3);
    const board = new WsDevice(`ws://127.0.0.1:${plain.wsPort}/plain/t`, headers);
    devices.push(board);
    await board.open();
    await waitFor(() => inside(plain).connectionByCid('BOLD')?.kind === 'plain', PROBE_MS + 2000, 'the /plain/ board to hold BOLD');
    await old.waitClosed(2000);
    assert.equal(board.closed, null);
  });

  it('a live old bearer session keeps the cid; the newcomer is told only "login refused"', async () => {
    const headers = { Authorization: `Bearer blive.${KEY}` };
    const old = await pool.open('ws', plain.wsPort!, { headers, autoPong: true });
    await old.nextOfType(MSG.QUOTA_LEVEL, 2000);
    const board = new WsDevice(`ws://127.0.0.1:${plain.wsPort}/plain/t`, headers);
    devices.push(board);
    assert.equal((await board.waitClosed(PROBE_MS + 2000)).reason, 'login refused');
    assert.equal(inside(plain).connectionByCid('BLIVE')?.kind, 'iosignal');
    assert.equal(old.closed, false);
  });

  it('a certificate whose old congs session went silent logs in again over wss after the probe', async () => {
    const old = await pool.open('cong', mutual.congPort!, { tls: tlsOf('cold') });
    assert.equal((await old.nextOfType(MSG.QUOTA_LEVEL, 2000)).msg[1], 3);
    const holder = inside(mutual).router.cids.get('COLD');
    const fresh = await pool.open('ws', mutual.wsPort!, { tls: tlsOf('cold') });
    assert.equal((await fresh.nextOfType(MSG.QUOTA_LEVEL, PROBE_MS + 2000)).msg[1], 3);
    await old.waitClosed(2000);
    assert.notEqual(inside(mutual).router.cids.get('COLD'), holder);
    assert.equal(inside(mutual).connectionByCid('COLD')?.transport, 'ws');
  });

  it('a certificate whose old session is live: the new one is closed, the old one stays', async () => {
    const old = await pool.open('ws', mutual.wsPort!, { tls: tlsOf('clive'), autoPong: true });
    await old.nextOfType(MSG.QUOTA_LEVEL, 2000);
    const fresh = await pool.open('cong', mutual.congPort!, { tls: tlsOf('clive'), autoPong: true });
    await fresh.waitClosed(PROBE_MS + 2000);
    assert.equal(inside(mutual).connectionByCid('CLIVE')?.transport, 'ws');
    assert.equal(old.closed, false);
  });
});

describe('bearer refusals (Authorization: Bearer)', () => {
  const pool = new ClientPool();
  const devices: WsDevice[] = [];
  afterEach(async () => {
    for (const device of devices.splice(0)) device.close();
    await pool.closeAll();
  });

  it('/plain/: an unknown id and a wrong key get the same close; only the log tells them apart', async () => {
    const lines: string[] = [];
    const server = await startServer({ auth: { param: `adm.${KEY}.ADM.255` }, authFailDelay: 10 }, lines);
    try {
      const closes = [];
      for (const token of ['x.whatever', 'adm.wrong']) {
        const device = new WsDevice(`ws://127.0.0.1:${server.wsPort}/plain/t`, { Authorization: `Bearer ${token}` });
        devices.push(device);
        closes.push(await device.waitClosed());
      }
      assert.deepEqual(closes[0], closes[1], 'the device cannot tell an unknown id from a wrong key');
      assert.equal(closes[0]!.reason, 'login refused');
      assert.ok(lines.some((line) => line.includes('login refused: bearer: unknown id "x"')), lines.join('\n'));
      assert.ok(lines.some((line) => line.includes('login refused: bearer: wrong key for id "adm"')), lines.join('\n'));
    } finally {
      await server.close();
    }
  });

  it('a refused bearer login is closed after the AUTH_FAIL delay, like Boho (manual clock)', async () => {
    const clock = new ManualClock();
    const lines: string[] = [];
    const server = await startServer({ auth: { param: `adm.${KEY}.ADM.255` }, clock }, lines);
    try {
      const idle = clock.pending;
      const device = new WsDevice(`ws://127.0.0.1:${server.wsPort}/plain/t`, { Authorization: 'Bearer adm.wrong' });
      devices.push(device);
      await waitFor(() => clock.pending === idle + 1, 3000, 'the refusal waiting for its delay');
      assert.ok(lines.some((line) => line.includes('wrong key for id "adm"')));
      clock.advance(599);
      assert.equal(clock.pending, idle + 1, 'not closed 1 ms before the 600 ms delay');
      assert.equal(server.connectionList().length, 1);
      clock.advance(1);
      assert.equal(clock.pending, idle);
      assert.equal((await device.waitClosed()).reason, 'login refused');
    } finally {
      await server.close();
    }
  });

  it('over cleartext ws:// from another host it is refused; TLS at a trusted proxy (X-Forwarded-Proto https) is fine', async () => {
    const lines: string[] = [];
    const server = await startServer({ auth: { param: `dev.${KEY}.DEV.3` }, authFailDelay: 10 }, lines);
    try {
      // 127.0.0.1 is a trusted proxy by default, forwarding for a client elsewhere.
      const forwarded = { Authorization: `Bearer dev.${KEY}`, 'X-Forwarded-For': '192.0.2.7' };
      const clear = await pool.open('ws', server.wsPort!, { headers: forwarded });
      await clear.waitClosed(3000);
      assert.equal(inside(server).connectionByCid('DEV'), undefined);
      assert.ok(lines.some((line) => line.includes('bearer key for id "dev" sent over cleartext ws:// from 192.0.2.7: refused')), lines.join('\n'));
      assert.equal(server.metrics().authFailByReason.cleartext, 1);
      const secured = await pool.open('ws', server.wsPort!, { headers: { ...forwarded, 'X-Forwarded-Proto': 'https' } });
      assert.equal((await secured.nextOfType(MSG.QUOTA_LEVEL, 2000)).msg[1], 3);
    } finally {
      await pool.closeAll();
      await server.close();
    }
  });

  it('--allow-cleartext-bearer accepts it, with one warning for the whole process', async () => {
    const lines: string[] = [];
    const server = await startServer({ auth: { param: `dev.${KEY}.DEV.3,dev2.${KEY}.DEV2.3` }, allowCleartextBearer: true }, lines);
    try {
      for (const id of ['dev', 'dev2']) {
        const c = await pool.open('ws', server.wsPort!, { headers: { Authorization: `Bearer ${id}.${KEY}`, 'X-Forwarded-For': '192.0.2.7' } });
        assert.equal((await c.nextOfType(MSG.QUOTA_LEVEL, 2000)).msg[1], 3);
      }
      assert.equal(lines.filter((line) => line.includes('cleartext')).length, 1, lines.join('\n'));
    } finally {
      await pool.closeAll();
      await server.close();
    }
  });

  it('throttled attempts from 20 addresses: one line a second per address, and a budget for them all', async () => {
    const clock = new ManualClock();
    const lines: string[] = [];
    const server = await startServer(
      { auth: { param: `adm.${KEY}.ADM.255` }, clock, authFailDelay: 0, loginLimits: { addressBurst: 1, addressRate: 0.001, deviceBurst: 1000 } },
      lines,
    );
    const ADDRESSES = 20;
    const TRIES = 6;
    const attempt = (n: number): Promise<RawClient> =>
      pool.open('ws', server.wsPort!, { headers: { Authorization: 'Bearer adm.wrong' }, localAddress: `127.0.0.${2 + n}` });
    try {
      for (let round = 0; round < TRIES; round++) {
        await Promise.all(Array.from({ length: ADDRESSES }, (_, n) => attempt(n)));
      }
      await waitFor(() => server.metrics().authFail === ADDRESSES * TRIES, 5000, 'every attempt decided');
      clock.advance(0);
      const throttled = lines.filter((line) => line.includes('throttled'));
      assert.equal(lines.filter((line) => line.includes('wrong key')).length, ADDRESSES, 'each real key check is logged');
      assert.equal(throttled.length, THROTTLED_LOGIN_LINES_PER_SECOND, `${throttled.length} lines about throttled attempts:\n${throttled.join('\n')}`);
      assert.equal(lines.filter((line) => line.includes('closing:')).length, 0, 'no second line per refused attempt');
      // A second later the next one is written, with the count of those that were not.
      clock.advance(1000);
      await attempt(0);
      await waitFor(() => lines.filter((line) => line.includes('throttled')).length === THROTTLED_LOGIN_LINES_PER_SECOND + 1, 3000, 'the next line');
      assert.match(lines.at(-1)!, new RegExp(`\\(${ADDRESSES - THROTTLED_LOGIN_LINES_PER_SECOND} similar lines suppressed\\)$`));
    } finally {
      await pool.closeAll();
      await server.close();
    }
  });
});
