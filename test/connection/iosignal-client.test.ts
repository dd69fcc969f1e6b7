// The real iosignal 2.2.1 clients (IO over ws, IOCongSocket over cong), unmodified, against iosig's login.
//
// The published 2.2.1 clients speak the boho 1.x handshake, whose message codes differ from 5.x (§4.4):
//   boho 1.x: C→S AUTH_REQ [B0 00], S→C AUTH_NONCE B1 (13 bytes), C→S AUTH_HMAC B2 (45), S→C AUTH_ACK B3 (33), AUTH_FAIL B4
//   5.x:      S→C SERVER_TIME_NONCE B0 (13, unsolicited), C→S AUTH_REQ B1 (45), S→C AUTH_RES B2 (33), AUTH_FAIL B3
// The layouts and the crypto are the same, and 5.x clients never send B0 or B2, so iosig answers both dialects.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientPool } from '../kit/raw-client.js';
import { sleep, waitFor } from '../kit/wait.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { MSG } from '../../src/protocol/codes.js';
import { drained, loggedIn, textSignal } from '../kit/peer.js';
import { loadIosignal221, nextEvent, type Io221Client as IoClient, type Iosignal221 as IosignalModule } from '../kit/iosignal-221.js';
import { hex, sub } from '../kit/messages.js';


const PARAM = 'io221w.key-w.IOW.2,io221c.key-c.IOC.10,member.key-m.MEM.3';

/** Raw buffers the client received (before its own decryption). */
function recordRaw(c: IoClient): Buffer[] {
  const seen: Buffer[] = [];
  c.on('socket_data', (data) => {
    if (Buffer.isBuffer(data)) seen.push(Buffer.from(data));
  });
  return seen;
}

describe('iosignal 2.2.1 clients (IO, IOCongSocket) and Boho login', () => {
  let lib: IosignalModule;
  let server: IosigServer;
  const clients: IoClient[] = [];
  const pool = new ClientPool();
  const quietLog = console.log;

  before(async () => {
    lib = await loadIosignal221();
    assert.equal(lib.version, '2.2.1');
    server = await startServer({ auth: { param: PARAM }, authFailDelay: 100 });
    console.log = () => undefined; // the 2.2.1 client prints its quota, '.' and the like
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.stop();
    await pool.closeAll();
    await drained(server);
  });
  after(async () => {
    console.log = quietLog;
    await server.close();
  });

  function make(kind: 'ws' | 'cong', port: number, creds?: [string, string]): IoClient {
    const c = kind === 'ws' ? new lib.IO() : new lib.IOCongSocket();
    clients.push(c);
    c.on('error', () => undefined);
    if (creds) c.auth(creds[0], creds[1]);
    c.open(kind === 'ws' ? `ws://127.0.0.1:${port}` : `cong://127.0.0.1:${port}`);
    return c;
  }

  async function subscribed(cid: string, key: string): Promise<void> {
    await waitFor(() => server.connectionList().some((c) => c.cid === cid && c.channels.includes(key)), 2000, `${cid} to subscribe ${key}`);
  }

  it('anonymous 2.2.1 clients exchange signals with a logged-in client: plaintext to them, ENC_488 to the member', async () => {
    const member = await loggedIn(pool, server, 'ws', 'member', 'key-m');
    member.sendEnc(sub('mix'));
    await member.quiet();
    const w = make('ws', portOf(server, 'ws'));
    const c = make('cong', portOf(server, 'cong'));
    await Promise.all([nextEvent(w, 'ready'), nextEvent(c, 'ready')]);
    const rawW = recordRaw(w);
    const rawC = recordRaw(c);
    w.subscribe('mix');
    c.subscribe('mix');
    await subscribed(w.cid, 'CH:mix');
    await subscribed(c.cid, 'CH:mix');
    const onW = nextEvent(w, 'mix');
    const onC = nextEvent(c, 'mix');
    member.sendEnc(textSignal('mix', 'from member'));
    assert.deepEqual(await onW, ['from member', 'mix']);
    assert.deepEqual(await onC, ['from member', 'mix']);
    assert.equal(rawW.at(-1)?.[0], MSG.SIGNAL, 'plaintext SIGNAL to the anonymous ws client');
    assert.equal(rawC.at(-1)?.[0], MSG.SIGNAL, 'plaintext SIGNAL to the anonymous cong client');
    assert.equal(hex((await member.nextPlain()).plain), hex(textSignal('mix', 'from member')));
    c.signal('mix', 'from 2.2.1');
    const got = await member.nextPlain();
    assert.equal(got.wire[0], MSG.ENC_488);
    assert.equal(hex(got.plain), hex(textSignal('mix', 'from 2.2.1')));
  });

  it('the real clients log in with the boho 1.x codes, get the stored cid and level, and exchange ENC_488 signals', async () => {
    const okBefore = server.metrics().authOk;
    const w = make('ws', portOf(server, 'ws'), ['io221w', 'key-w']);
    const c = make('cong', portOf(server, 'cong'), ['io221c', 'key-c']);
    await Promise.all([nextEvent(w, 'ready'), nextEvent(c, 'ready')]);
    assert.equal(w.cid, 'IOW');
    assert.equal(c.cid, 'IOC');
    assert.equal(w.level, 2, 'QUOTA_LEVEL read by the 2.2.1 client');
    assert.equal(c.level, 10);
    assert.equal(server.metrics().authOk, okBefore + 2);
    assert.equal(server.connectionList().filter((x) => x.authorized).length, 2);
    w.subscribe('both');
    c.subscribe('both');
    await subscribed('IOW', 'CH:both');
    await subscribed('IOC', 'CH:both');
    const rawW = recordRaw(w);
    const rawC = recordRaw(c);
    // Both subscribe, so each also gets its own publish back (self delivery).
    const atW = nextEvent(w, 'both', 3000, (args) => args[0] === 'cong to ws');
    const selfC = nextEvent(c, 'both', 3000, (args) => args[0] === 'cong to ws');
    c.signal('both', 'cong to ws', 7);
    assert.deepEqual(await atW, ['cong to ws', 7, 'both']);
    assert.deepEqual(await selfC, ['cong to ws', 7, 'both']);
    const atC = nextEvent(c, 'both', 3000, (args) => typeof args[0] === 'object');
    const selfW = nextEvent(w, 'both', 3000, (args) => typeof args[0] === 'object');
    w.signal('both', { from: 'ws' });
    assert.deepEqual(await atC, [{ from: 'ws' }, 'both']);
    assert.deepEqual(await selfW, [{ from: 'ws' }, 'both']);
    await sleep(50);
    assert.ok(rawW.length >= 2 && rawW.every((m) => m[0] === MSG.ENC_488), 'every signal reached ws as ENC_488');
    assert.ok(rawC.length >= 2 && rawC.every((m) => m[0] === MSG.ENC_488), 'every signal reached cong as ENC_488');
  });

  for (const kind of ['ws', 'cong'] as const) {
    it(`a wrong key gives the 2.2.1 client auth_fail (${kind})`, async () => {
      const failBefore = server.metrics().authFail;
      const c = make(kind, portOf(server, kind), [kind === 'ws' ? 'io221w' : 'io221c', 'wrong-key']);
      const [reason] = await nextEvent(c, 'auth_fail', 3000);
      assert.equal(reason, 'server reject auth.');
      assert.equal(server.metrics().authFail, failBefore + 1);
      assert.equal(c.cid, '');
    });
  }
});
