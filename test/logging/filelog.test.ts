// File logs (docs/protocol.md §9.2 `-f`): connection.log, auth.log (OK / FAIL, never the key or its hash) and
// attack.log (garbage before CID_REQ on CongSocket).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClientPool } from '../kit/raw-client.js';
import { startServer, type IosigServer } from '../kit/server.js';
import { keyFromString, storedKeyForm } from '../../src/crypto/keys.js';
import { drained, loggedIn, openPeer, tempDir } from '../kit/peer.js';

const KEY = 'secret-log-key';

describe('file logs (fileLogDir)', () => {
  let server: IosigServer | null = null;
  const pool = new ClientPool();
  const tmp = tempDir('iosig-logs-');

  before(async () => {
    server = await startServer({ auth: { param: `logd.${KEY}.LOGD.255` }, authFailDelay: 50, fileLogDir: tmp.dir });
  });
  after(async () => {
    await pool.closeAll();
    await server?.close();
    tmp.remove();
  });

  it('writes connection, auth and attack lines; no key material in any log', async () => {
    const srv = server!;
    const ok = await loggedIn(pool, srv, 'ws', 'logd', KEY);
    const bad = await openPeer(pool, srv, 'cong');
    const t0 = Date.now();
    bad.wire.send(bad.authReq('logd', 'not-' + KEY));
    await bad.expectAuthFail(t0);
    const unknown = await openPeer(pool, srv, 'ws');
    unknown.wire.send(unknown.authReq('ghost', KEY));
    await unknown.expectAuthFail(Date.now());
    const attacker = await pool.open('cong', srv.congPort!);
    attacker.sendRaw(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await attacker.waitClosed(2000);
    assert.equal(ok.cid, 'LOGD');
    await pool.closeAll();
    await drained(srv);
    await srv.close(); // flushes the log streams
    server = null;

    const read = (name: string): string[] =>
      readFileSync(join(tmp.dir, name), 'utf8')
        .split('\n')
        .filter((l) => l !== '');
    const connection = read('connection.log');
    const auth = read('auth.log');
    const attack = read('attack.log');

    assert.ok(connection.some((l) => / WS open/.test(l)), `connection.log has a WS open line:\n${connection.join('\n')}`);
    assert.ok(connection.some((l) => / CS open/.test(l)), 'connection.log has a CS open line');
    assert.ok(connection.some((l) => / WS close/.test(l) && l.includes('cid:LOGD')), 'connection.log has the close of LOGD');
    assert.ok(connection.every((l) => l.includes('127.0.0.1')), 'connection lines carry the peer address');
    assert.equal(connection.filter((l) => / open/.test(l)).length, 4);
    assert.equal(connection.filter((l) => / close/.test(l)).length, 4);

    const oks = auth.filter((l) => / OK/.test(l));
    const fails = auth.filter((l) => / FAIL/.test(l));
    assert.equal(oks.length, 1, `auth.log:\n${auth.join('\n')}`);
    assert.match(oks[0]!, /cid:LOGD/);
    assert.match(oks[0]!, /did:logd/);
    assert.match(oks[0]!, /ADMIN/, 'level 255 is marked as admin');
    assert.equal(fails.length, 2);
    assert.ok(fails.every((l) => /reason:/.test(l)), 'FAIL lines carry a reason');

    const forbidden = [KEY, storedKeyForm(KEY), keyFromString(KEY).toString('hex'), keyFromString(KEY).toString('base64url')];
    for (const [name, lines] of [
      ['connection.log', connection],
      ['auth.log', auth],
      ['attack.log', attack],
    ] as const) {
      for (const secret of forbidden) {
        assert.equal(lines.some((l) => l.includes(secret)), false, `${name} must not contain key material`);
      }
    }

    assert.equal(attack.length, 1, `attack.log:\n${attack.join('\n')}`);
    assert.match(attack[0]!, / CS /);
    assert.match(attack[0]!, /127\.0\.0\.1/);
    assert.match(attack[0]!, /47/, 'the offending byte (G = 0x47) is shown');
  });
});
