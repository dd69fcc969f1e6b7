// Issue 9 item 10: a device that reconnects while its stale session is still on the books logs in at once
// (the old session is probed and closed when silent); a live old session still wins under keep-old; under
// `replace` watchers do not see the device go offline when the old connection closes.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { MSG } from '../../src/protocol/codes.js';
import { ClientPool, type Transport } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { drained, openPeer, textSignal } from '../kit/peer.js';
import { hex, sub, CID_REQ } from '../kit/messages.js';

const PROBE_MS = 300;
const COMBOS: [Transport, Transport][] = [
  ['ws', 'ws'],
  ['cong', 'cong'],
  ['ws', 'cong'],
  ['cong', 'ws'],
];

describe('duplicate login under keep-old: the old session is probed', () => {
  let server: IosigServer;
  const pool = new ClientPool();
  const ids = COMBOS.flatMap(([a, b]) => [`s${a[0]}${b[0]}`, `l${a[0]}${b[0]}`]);

  before(async () => {
    server = await startServer({
      auth: { param: ids.map((id) => `${id}.k.${id.toUpperCase()}.3`).join(',') },
      duplicateLogin: 'keep-old',
      duplicateProbeTimeout: PROBE_MS,
      authFailDelay: 100,
    });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(() => server.close());

  for (const [oldKind, newKind] of COMBOS) {
    it(`a silent old ${oldKind} session is closed and the new ${newKind} login wins`, async () => {
      const id = `s${oldKind[0]}${newKind[0]}`;
      // A board whose Wi-Fi dropped: its socket is still open on the server, but it answers nothing.
      const old = await openPeer(pool, server, oldKind, { autoPong: false });
      await old.login(id, 'k');
      const t0 = Date.now();
      const late = await openPeer(pool, server, newKind);
      late.wire.send(late.authReq(id, 'k'));
      assert.equal(await late.expectAuthOk(PROBE_MS + 2000), 3, 'the reconnecting device is logged in');
      assert.ok(Date.now() - t0 < PROBE_MS + 1000, `logged in after the probe deadline, took ${Date.now() - t0} ms`);
      await old.wire.waitClosed(2000);
      late.wire.send(CID_REQ);
      const res = await late.nextPlain();
      assert.equal(res.plain.toString('utf8', 1), id.toUpperCase(), 'the new session holds the cid');
    });

    it(`a live old ${oldKind} session still wins against a new ${newKind} login`, async () => {
      const id = `l${oldKind[0]}${newKind[0]}`;
      const old = await openPeer(pool, server, oldKind, { autoPong: true });
      await old.login(id, 'k');
      const late = await openPeer(pool, server, newKind);
      late.wire.send(late.authReq(id, 'k'));
      if (newKind === 'ws') {
        assert.equal(hex(await late.wire.next(PROBE_MS + 2000)), 'b3', 'AUTH_FAIL for the newcomer');
      } else {
        await late.wire.waitClosed(PROBE_MS + 2000);
      }
      const { json } = await old.iam();
      assert.equal(json.did, id, 'the old session is still logged in');
      assert.equal(old.wire.closed, false);
    });
  }
});

describe('duplicate login under replace: no false offline notice', () => {
  let server: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    server = await startServer({
      auth: { param: COMBOS.map(([a, b]) => `r${a[0]}${b[0]}.k.R${a[0]}${b[0]}.3`).join(',') },
      duplicateLogin: 'replace',
      authFailDelay: 100,
    });
  });
  afterEach(async () => {
    await pool.closeAll();
    await drained(server);
  });
  after(() => server.close());

  for (const [oldKind, newKind] of COMBOS) {
    it(`a watcher of <cid>@state sees no "close" while the new ${newKind} holder is online (old ${oldKind})`, async () => {
      const id = `r${oldKind[0]}${newKind[0]}`;
      const cid = `R${oldKind[0]}${newKind[0]}`;
      const watcher = await pool.ready('ws', portOf(server, 'ws'));
      watcher.send(sub(`${cid}@state,${cid}@$state`));
      await watcher.sync();
      const old = await openPeer(pool, server, oldKind, { autoPong: true });
      await old.login(id, 'k');
      const late = await openPeer(pool, server, newKind);
      late.wire.send(late.authReq(id, 'k'));
      assert.equal(await late.expectAuthOk(), 3);
      await old.wire.waitClosed(2000);
      await waitFor(() => server.connectionList().filter((c) => c.did === id).length === 1, 2000, 'one session for the id');
      const seen = await watcher.sync();
      assert.deepEqual(seen.map(hex), [], 'no close notice while the device is online');
      // When the new holder leaves, the notice does come.
      await late.wire.close();
      const notice = await watcher.next(2000);
      assert.equal(hex(notice), hex(textSignal(`${cid}@state`, 'close')));
      assert.equal(notice[0], MSG.SIGNAL);
    });
  }
});
