// The duplicate-login rule across MQTT and iosignal (issue 19): a device id logged in on one side and logging in
// again on the other gets the --duplicate-login policy, as two iosignal logins do. keep-old (the default) refuses
// the newcomer (MQTT: CONNACK 0x87 on MQTT 5, 0x05 on 3.1.1; iosignal: AUTH_FAIL); replace closes the older one
// (MQTT: DISCONNECT 0x8E "Session taken over" on MQTT 5, a close on 3.1.1; iosignal: AUTH_CLEAR and a close).
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { ClientPool } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { startServer, type IosigServer } from '../kit/server.js';
import { MSG } from '../../src/protocol/codes.js';
import { drained, loggedIn, openPeer } from '../kit/peer.js';
import { hex } from '../kit/messages.js';
import type { DuplicateLoginPolicy } from '../../src/policies.js';

const DEVICES = ['ka.k.KA.3', 'kb.k.KB.3', 'kc.k.KC.3', 'ra.k.RA.3', 'rb.k.RB.3', 'rc.k.RC.3'].join(',');

function suite(policy: DuplicateLoginPolicy, body: (ctx: { server: () => IosigServer; pool: ClientPool; mq: (v: 4 | 5, id: string) => Promise<MqttClient> }) => void): void {
  describe(`duplicate login across MQTT and iosignal, ${policy}`, () => {
    let server: IosigServer;
    const pool = new ClientPool();
    const clients: MqttClient[] = [];
    before(async () => {
      server = await startServer({ mqttPort: 0, auth: { param: DEVICES }, authFailDelay: 0, duplicateLogin: policy });
    });
    afterEach(async () => {
      for (const c of clients.splice(0)) c.end(true);
      await pool.closeAll();
      await drained(server);
    });
    after(async () => {
      await server.close();
    });
    const mq = async (protocolVersion: 4 | 5, id: string): Promise<MqttClient> => {
      const url = `mqtt://127.0.0.1:${server.mqttPort}`;
      const opts = { protocolVersion, reconnectPeriod: 0, connectTimeout: 5000, username: id, password: 'k' };
      const client = mqtt.connect(url, opts);
      clients.push(client);
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
      });
      return client;
    };
    body({ server: () => server, pool, mq });
  });
}

suite('keep-old', ({ server, pool, mq }) => {
  for (const [version, id, code] of [[5, 'ka', 0x87], [4, 'kc', 0x05]] as const) {
    it(`an MQTT ${version === 4 ? '3.1.1' : '5'} login of a device online on iosignal is refused (CONNACK ${code}, not authorized); the iosignal session stays`, async () => {
      const old = await loggedIn(pool, server(), 'ws', id, 'k', { autoPong: true });
      const pingsBefore = old.raw?.pings ?? 0;
      await assert.rejects(mq(version, id), { code });
      assert.ok((old.raw?.pings ?? 0) > pingsBefore, 'the old session was probed');
      const { json } = await old.iam();
      assert.equal(json.did, id, 'the iosignal session is still logged in');
      assert.equal(old.wire.closed, false);
    });
  }

  it('an iosignal login of a device online on MQTT is refused; the MQTT client stays', async () => {
    const held = await mq(5, 'kb');
    const late = await openPeer(pool, server(), 'ws');
    const t0 = Date.now();
    late.wire.send(late.authReq('kb', 'k'));
    await late.expectAuthFail(t0);
    assert.equal(held.connected, true);
    await held.publishAsync('still/here', 'x', { qos: 1 });
  });
});

suite('replace', ({ server, pool, mq }) => {
  it('an MQTT login of a device online on iosignal closes the iosignal session with AUTH_CLEAR', async () => {
    const old = await loggedIn(pool, server(), 'cong', 'ra', 'k');
    const client = await mq(5, 'ra');
    const { msg } = await old.raw!.nextOfType(MSG.AUTH_CLEAR, 2000);
    assert.equal(hex(msg), 'c4' + Buffer.from('duplicate login.').toString('hex'));
    await old.raw!.waitClosed(2000);
    assert.equal(client.connected, true);
    const sessions = (): string[] => server().connectionList().filter((c) => c.did === 'ra').map((c) => c.transport);
    await waitFor(() => sessions().length === 1, 2000, 'one session for the id');
    assert.deepEqual(sessions(), ['mqtt']);
  });

  it('an iosignal login of a device online on MQTT 5 sends it DISCONNECT 0x8E; MQTT 3.1.1 is closed', async () => {
    const v5 = await mq(5, 'rb');
    const v4 = await mq(4, 'rc');
    const reasons: number[] = [];
    v5.on('disconnect', (packet) => reasons.push(packet.reasonCode ?? -1));
    let v4Closed = false;
    v4.on('close', () => {
      v4Closed = true;
    });
    const a = await loggedIn(pool, server(), 'ws', 'rb', 'k');
    assert.equal(a.cid, 'RB');
    await waitFor(() => reasons.length === 1, 3000, 'the DISCONNECT of the MQTT 5 client');
    assert.deepEqual(reasons, [0x8e]);
    const b = await loggedIn(pool, server(), 'ws', 'rc', 'k');
    assert.equal(b.cid, 'RC');
    await waitFor(() => v4Closed, 3000, 'the close of the MQTT 3.1.1 client');
    assert.equal(b.wire.closed, false);
  });
});
