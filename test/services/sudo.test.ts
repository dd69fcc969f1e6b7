// The sudo service (docs/protocol.md §7.4, Q23, Q26) over ws and cong: connection, channel and key-store commands.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { IosigServer } from '../../src/index.js';
import { MSG, PAYLOAD } from '../../src/protocol/codes.js';
import { encodeSignal, encodeTagMessage } from '../../src/protocol/messages.js';
import { createReplyService } from '../../src/services/reply.js';
import { createSudoService } from '../../src/services/sudo.js';
import { ClientPool, type Transport } from '../kit/raw-client.js';
import { ADMIN, DEVICE, ServicePeer, assertReply, startServer } from './support.js';
import { TRANSPORTS, portOf } from '../kit/server.js';

const STORED_HASH_LENGTH = 44;
const NO_PERMISSION = { status: 255, body: 'NO_PERMISSION.' };

const textSignal = (tag: string, value: string): Buffer => encodeSignal(tag, PAYLOAD.TEXT, Buffer.from(value + '\0', 'utf8'));

describe('sudo service', () => {
  let server: IosigServer;
  const pool = new ClientPool();

  before(async () => {
    server = await startServer([createSudoService(), createReplyService()], { server: { authFailDelay: 50 } });
  });
  afterEach(() => pool.closeAll());
  after(() => server.close());

  const admin = (kind: Transport): Promise<ServicePeer> => ServicePeer.login(pool, kind, portOf(server, kind), ADMIN.id, ADMIN.key);
  const anonymous = (kind: Transport): Promise<ServicePeer> => ServicePeer.anonymous(pool, kind, portOf(server, kind));

  for (const kind of TRANSPORTS) {
    describe(kind, () => {
      it('refuses callers below level 255 with NO_PERMISSION.', async () => {
        const anon = await anonymous(kind);
        assertReply(await anon.call('sudo', 'cid'), NO_PERMISSION, 'anonymous');
        assertReply(await anon.call('sudo', 'close', anon.cid), NO_PERMISSION, 'anonymous close');
        const device = await ServicePeer.login(pool, kind, portOf(server, kind), DEVICE.id, DEVICE.key);
        assertReply(await device.call('sudo', 'getauth', ADMIN.id), NO_PERMISSION, 'level 3 device');
      });

      it('knows commands in lower case only', async () => {
        const root = await admin(kind);
        assertReply(await root.call('sudo', 'CID'), { status: 255, body: 'UNKNOWN_COMMAND' }, 'CID');
        assertReply(await root.call('sudo', 'Remotes'), { status: 255, body: 'UNKNOWN_COMMAND' }, 'Remotes');
      });

      it('cid, remotes and clients list the connections', async () => {
        const root = await admin(kind);
        assert.equal(root.cid, ADMIN.cid);
        const anon = await anonymous(kind);
        const notYet = await ServicePeer.open(pool, kind, portOf(server, kind)); // no CID_REQ: no CID
        const cids = await root.call('sudo', 'cid');
        assert.equal(cids.status, 0);
        assert.ok(cids.encrypted, 'admin replies are encrypted');
        assert.ok(Array.isArray(cids.body));
        assert.deepEqual([...(cids.body as string[])].sort(), [ADMIN.cid, anon.cid].sort());
        for (const command of ['remotes', 'clients']) {
          const res = await root.call('sudo', command);
          assert.equal(res.status, 0, command);
          const lines = res.body as string[];
          assert.equal(lines.length, 3, `${command}: ${JSON.stringify(lines)}`);
          for (const line of lines) assert.match(line, /^#\d+:[^()]*\(\d+\)$/, command);
          assert.ok(lines.some((line) => line.includes(`:${ADMIN.cid}(`)), command);
          assert.ok(lines.some((line) => line.includes(`:${anon.cid}(`)), command);
          assert.ok(lines.some((line) => /^#\d+:\(\d+\)$/.test(line)), `${command}: the connection without a CID`);
        }
        await notYet.raw.close();
      });

      it('channels and subscribers', async () => {
        const root = await admin(kind);
        const anon = await anonymous(kind);
        anon.raw.send(encodeTagMessage(MSG.SUBSCRIBE, `news-${kind}`));
        await anon.raw.sync();
        const channels = await root.call('sudo', 'channels');
        assert.equal(channels.status, 0);
        assert.ok((channels.body as string[]).includes(`CH:news-${kind}`), JSON.stringify(channels.body));
        assertReply(await root.call('sudo', 'subscribers', `CH:news-${kind}`), { status: 0, body: [anon.cid] }, 'subscribers');
        assertReply(await root.call('sudo', 'subscribers', 'CH:nobody-here'), { status: 0, body: [] }, 'unknown key');
        const missing = await root.call('sudo', 'subscribers');
        assert.equal(missing.status, 255);
        assert.match(String(missing.body), /channel key/);
      });

      it('remote and client describe a connection in modes 1–4', async () => {
        const root = await admin(kind);
        const anon = await anonymous(kind);
        anon.raw.send(Buffer.concat([Buffer.from([MSG.IAM]), Buffer.from('nick-1')]));
        anon.raw.send(encodeTagMessage(MSG.SUBSCRIBE, 'room'));
        anon.raw.send(textSignal('@$temp', '21.5'));
        await anon.raw.sync();

        const first = await root.call('sudo', 'remote', anon.cid);
        assert.equal(first.status, 0);
        const mode1 = first.body as Record<string, unknown>;
        assert.deepEqual(Object.keys(mode1), ['ip', 'id', 'ssid', 'cid', 'uid', 'uptime', 'tx', 'rx', 'txBytes', 'rxBytes']);
        assert.equal(mode1['ip'], '127.0.0.1');
        assert.equal(mode1['id'], anon.cid);
        assert.equal(mode1['cid'], anon.cid);
        assert.equal(mode1['uptime'], 0, 'uptime in seconds');
        assert.ok(Number(mode1['rx']) >= 4, `rx counts messages: ${String(mode1['rx'])}`);
        assert.ok(Number(mode1['rxBytes']) > Number(mode1['rx']), 'rxBytes counts bytes');
        assertReply(await root.call('sudo', 'client', anon.cid, 1), first, 'client is remote');

        const mode2 = await root.call('sudo', 'remote', anon.cid, '2');
        assertReply(mode2, { status: 0, body: { ip: '127.0.0.1', uptime: 0, nick: 'nick-1', ssid: mode1['ssid'] } }, 'mode "2"');
        assertReply(await root.call('sudo', 'client', anon.cid, 2), mode2, 'mode 2');
        assertReply(
          await root.call('sudo', 'remote', anon.cid, 3),
          { status: 0, body: { ip: '127.0.0.1', uptime: 0, nick: 'nick-1', ssid: mode1['ssid'], isSecure: false, isAuth: false, encMode: 'AUTO' } },
          'mode 3',
        );
        const mode3Admin = await root.call('sudo', 'remote', ADMIN.cid, 3);
        assert.equal((mode3Admin.body as Record<string, unknown>)['isAuth'], true, 'the admin is authorised');
        const mode4 = await root.call('sudo', 'remote', anon.cid, '4');
        assert.equal(mode4.status, 0, 'mode 4 works (Q26 fix)');
        const body4 = mode4.body as Record<string, unknown>;
        assert.deepEqual(Object.keys(body4), ['ip', 'uptime', 'channels', 'set', 'retain']);
        assert.deepEqual(body4['channels'], ['CH:room']);
        assert.deepEqual(body4['set'], []);
        assert.equal((body4['retain'] as string[]).length, 1, `one CID-retained topic: ${JSON.stringify(body4['retain'])}`);
        assert.match((body4['retain'] as string[])[0]!, /temp/);

        assertReply(await root.call('sudo', 'remote', anon.cid, 5), { status: 0 }, 'a mode outside 1-4 has no body');
        assertReply(await root.call('sudo', 'remote', 'no-such-cid'), { status: 0, body: { result: 'nop' } }, 'unknown cid');
        const missing = await root.call('sudo', 'client');
        assert.equal(missing.status, 255);
        assert.match(String(missing.body), /needs a cid/);
      });

      it('close closes the target and answers 1; an unknown cid answers 0 (no body)', async () => {
        const root = await admin(kind);
        const anon = await anonymous(kind);
        const other = await anonymous(kind === 'ws' ? 'cong' : 'ws');
        assertReply(await root.call('sudo', 'close', anon.cid), { status: 0, body: 1 }, 'close');
        await anon.raw.waitClosed(2000);
        assertReply(await root.call('sudo', 'close', other.cid), { status: 0, body: 1 }, 'close on the other transport');
        await other.raw.waitClosed(2000);
        assertReply(await root.call('sudo', 'close', anon.cid), { status: 0 }, 'already gone');
        assertReply(await root.call('sudo', 'cid'), { status: 0, body: [ADMIN.cid] }, 'only the admin is left');
        const missing = await root.call('sudo', 'close');
        assert.equal(missing.status, 255);
      });

      it('addauth adds a device that can then log in; getauth hides its key; delauth removes it', async () => {
        const root = await admin(kind);
        const id = `n-${kind}`; // ids are at most 8 bytes
        const cid = `N-${kind}`;
        assertReply(await root.call('sudo', 'addauth', id, 'secret', cid, 3), { status: 0 }, 'addauth (param store: no body)');
        const device = await ServicePeer.login(pool, kind, portOf(server, kind), id, 'secret');
        assert.equal(device.cid, cid, 'the new device logs in with its CID');
        assertReply(await root.call('sudo', 'getauth', id), { status: 0, body: { key: '***', cid, level: 3 } }, 'getauth');
        assertReply(await root.call('sudo', 'getdevice', ADMIN.id), { status: 0, body: { key: '***', cid: ADMIN.cid, level: 255 } }, 'getdevice');
        const ids = await root.call('sudo', 'getauthidlist');
        assert.deepEqual([...(ids.body as string[])].sort(), [ADMIN.id, DEVICE.id, id].sort());
        assertReply(await root.call('sudo', 'getdevicelist'), ids, 'getdevicelist');

        assertReply(await root.call('sudo', 'delauth', id), { status: 0 }, 'delauth (param store: no body)');
        assertReply(await root.call('sudo', 'getauth', id), { status: 0 }, 'getauth after delauth');
        const refused = await ServicePeer.open(pool, kind, portOf(server, kind));
        const req = refused.session.authReq(id, 'secret', refused.hello);
        assert.ok(req);
        refused.raw.send(req);
        assert.equal((await refused.raw.next(2000)).toString('hex'), 'b3', 'AUTH_FAIL for the deleted device');

        assertReply(await root.call('sudo', 'adddevice', `${id}b`, 'k', `${cid}b`, '12'), { status: 0 }, 'adddevice, level as text');
        assertReply(await root.call('sudo', 'getauth', `${id}b`), { status: 0, body: { key: '***', cid: `${cid}b`, level: 12 } }, 'level parsed');
        assertReply(await root.call('sudo', 'deldevice', `${id}b`), { status: 0 }, 'deldevice');
      });

      it('key commands with wrong arguments fail with a clear message', async () => {
        const root = await admin(kind);
        const cases: Array<[string, unknown[], RegExp]> = [
          ['addauth', [], /exactly 4 arguments/],
          ['addauth', ['x', 'k', 'X'], /exactly 4 arguments/],
          ['addauth', ['x', 'k', 'X', 'high'], /level must be a number/],
          ['addauth', ['x', 'k', 'X', 7], /not in the quota table|level/],
          ['addauth', ['much-too-long-id', 'k', 'X', 3], /id/],
          ['getauth', [], /exactly 1 argument/],
          ['delauth', ['a', 'b'], /exactly 1 argument/],
        ];
        for (const [command, args, message] of cases) {
          const res = await root.call('sudo', command, ...args);
          assert.equal(res.status, 255, `${command} ${JSON.stringify(args)}: ${JSON.stringify(res.body)}`);
          assert.match(String(res.body), message, `${command} ${JSON.stringify(args)}`);
        }
        assertReply(await root.call('sudo', 'getauthidlist'), { status: 0, body: [ADMIN.id, DEVICE.id] }, 'nothing was added');
      });
    });
  }
});

describe('sudo service with revealKeys', () => {
  let server: IosigServer;
  const pool = new ClientPool();
  before(async () => {
    server = await startServer([createSudoService({ revealKeys: true })]);
  });
  afterEach(() => pool.closeAll());
  after(() => server.close());

  it('getauth returns the stored key hash (Q23, opt-in)', async () => {
    const root = await ServicePeer.login(pool, 'ws', portOf(server, 'ws'), ADMIN.id, ADMIN.key);
    const res = await root.call('sudo', 'getauth', DEVICE.id);
    assert.equal(res.status, 0);
    const record = res.body as Record<string, unknown>;
    assert.equal(typeof record['key'], 'string');
    assert.equal((record['key'] as string).length, STORED_HASH_LENGTH);
    assert.equal(record['cid'], DEVICE.cid);
  });
});

describe('sudo service without a key store', () => {
  let server: IosigServer;
  const pool = new ClientPool();
  before(async () => {
    // Everyone is level 255 here, so anonymous callers may use sudo.
    server = await startServer([createSudoService()], { auth: false, server: { defaultQuotaLevel: 255 } });
  });
  afterEach(() => pool.closeAll());
  after(() => server.close());

  for (const kind of TRANSPORTS) {
    it(`${kind}: the key commands answer status 0 with no body; the others work`, async () => {
      const root = await ServicePeer.anonymous(pool, kind, portOf(server, kind));
      for (const [command, args] of [
        ['addauth', ['x', 'k', 'X', 3]], ['adddevice', []], ['getauth', ['x']], ['getdevice', []],
        ['delauth', ['x']], ['deldevice', []], ['getauthidlist', []], ['getdevicelist', []],
      ] as const) {
        assertReply(await root.call('sudo', command, ...args), { status: 0 }, command);
      }
      assertReply(await root.call('sudo', 'cid'), { status: 0, body: [root.cid] }, 'cid');
    });
  }
});
