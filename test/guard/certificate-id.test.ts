// Issue 16 item 12: a certificate names one device, by one documented rule (identity.ts): the first DNS
// alternative name, else the CN. No other name is ever tried, so revoking that device never promotes the
// certificate to another one it names; email, URI and IP alternative names are not device ids. The same rule on
// CongSocket over TLS and on the mutual-TLS WebSocket front. Certificates made with openssl at run time.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, afterEach, before, describe, it } from 'node:test';
import { MSG } from '../../src/protocol/codes.js';
import { ClientPool } from '../kit/raw-client.js';
import { makeDevicePki, type DevicePki } from '../kit/device-pki.js';
import { startServer, type IosigServer } from '../kit/server.js';
import { drained } from '../kit/peer.js';
import { inside } from '../kit/inside.js';

const KEY = 'k3y';

describe('one device id per certificate (congs and wss)', () => {
  const pool = new ClientPool();
  let pki: DevicePki;
  let server: IosigServer;
  let ghost: { cert: string; key: string };
  let mailer: { cert: string; key: string };

  before(async () => {
    pki = makeDevicePki([]);
    ghost = pki.issue('ghost', '/CN=ghost', 'DNS:dev2,DNS:adm');
    mailer = pki.issue('mailer', '/CN=sensor board', 'email:adm,URI:adm,IP:127.0.0.9');
    server = await startServer({ auth: { param: `dev2.${KEY}.DEV-2.2,adm.${KEY}.ADM.255` }, tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca } });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(async () => {
    await server.close();
    pki.remove();
  });

  const tlsOf = (files: { cert: string; key: string }) => ({ ca: readFileSync(pki.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) });

  for (const kind of ['cong', 'ws'] as const) {
    it(`${kind}: CN=ghost with DNS names dev2 and adm is dev2; once dev2 is revoked it is nobody, never adm`, async () => {
      await inside(server).keyStore!.add('dev2', KEY, 'DEV-2', 2);
      const first = await pool.open(kind, kind === 'ws' ? server.wsPort! : server.congPort!, { tls: tlsOf(ghost), autoPong: true });
      assert.equal((await first.nextOfType(MSG.QUOTA_LEVEL, 2000)).msg[1], 2);
      assert.equal(inside(server).connectionByCid('DEV-2')?.did, 'dev2');
      assert.equal(await inside(server).keyStore!.remove('dev2'), true);
      await first.nextOfType(MSG.AUTH_CLEAR, 2000);
      await first.waitClosed(2000);
      const again = await pool.ready(kind, kind === 'ws' ? server.wsPort! : server.congPort!, { tls: tlsOf(ghost) });
      assert.match(again.cid, /^\?/, 'anonymous');
      assert.equal(inside(server).connectionByCid('ADM'), undefined, 'not promoted to adm');
      assert.ok(server.connectionList().every((c) => !c.authorized));
    });

    it(`${kind}: email, URI and IP alternative names are not device ids`, async () => {
      const c = await pool.ready(kind, kind === 'ws' ? server.wsPort! : server.congPort!, { tls: tlsOf(mailer) });
      assert.match(c.cid, /^\?/, 'anonymous');
      assert.equal(inside(server).connectionByCid('ADM'), undefined);
    });
  }
});
