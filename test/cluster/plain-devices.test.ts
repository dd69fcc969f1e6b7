// Plain JSON devices across two cluster nodes, on a memory hub and on Redis (issue 16 items 1 and 10, issue 17):
// a deep value crosses the bus and reaches the device as base64 instead of vanishing; every cross-node delivery —
// publish, unicast, retained replay fetched from the shared store — names its publisher's CID ("from"), and only the server's own messages carry "server": true.
// A hostile message on the bus (nested deeper than envelopes ever are, or with an extension type) is counted as
// malformed and changes nothing.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { PAYLOAD } from '../../src/protocol/codes.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import type { IosigServer } from '../../src/index.js';
import { BUS_ENGINES, type BusEngineRun } from './engines.js';
import { ClientPool } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { text } from '../kit/messages.js';
import { DevicePool, nested } from '../plain/ws-device.js';
import { clusterOf, interestKnown, settled, startNodeServer } from './broker-support.js';
import { inside } from '../kit/inside.js';

const PREFIX = 'plainx';

for (const engine of BUS_ENGINES) {
  describe(`plain devices across two cluster nodes on ${engine.label} (issue 16 items 1 and 10)`, { skip: engine.skip }, () => {
    let run: BusEngineRun;
    let a: IosigServer;
    let b: IosigServer;
    const pool = new ClientPool();
    const devices = new DevicePool();

    before(async () => {
      run = await engine.start();
      a = await startNodeServer(run, PREFIX);
      b = await startNodeServer(run, PREFIX);
    });
    afterEach(async () => {
      devices.closeAll();
      await pool.closeAll();
    });
    after(async () => {
      await a.close();
      await b.close();
      await run.stop();
    });

    it('a deep value published on A reaches a JSON device on B as base64, from its publisher', async () => {
      const { device } = await devices.json(b.wsPort!, 'deep');
      await interestKnown('CH:deep', [a]);
      const pub = await pool.ready('cong', a.congPort!);
      const payload = Buffer.from(nested(20_000));
      pub.send(encodeSignal('deep', PAYLOAD.OBJECT, payload));
      const envelope = await device.nextJson();
      assert.equal(envelope.from, pub.cid);
      assert.equal(envelope.server, undefined);
      assert.equal(envelope.encoding, 'base64');
      assert.ok(Buffer.from(String(envelope.payload), 'base64').equals(payload));
      pub.send(text('deep', 'after'));
      assert.deepEqual(await device.nextJson(), { tag: 'deep', from: pub.cid, type: 'TEXT', payload: 'after' });
      assert.equal(b.metrics().internalErrors, 0);
    });

    it('a unicast from A to a device on B names its publisher', async () => {
      const { device, cid } = await devices.json(b.wsPort!, 'idle');
      await settled(b);
      const pub = await pool.ready('ws', a.wsPort!);
      pub.send(text(`${cid}@note`, 'hi'));
      assert.deepEqual(await device.nextJson(), { tag: '@note', from: pub.cid, type: 'TEXT', payload: 'hi' });
    });

    it('retained values replay on B with their publisher, fetched from the shared store; the server\'s with "server": true', async () => {
      const pub = await pool.ready('cong', a.congPort!);
      pub.send(text('alerts$last', 'EVACUATE NOW'));
      await pub.sync();
      a.sendSignal('news$last', PAYLOAD.TEXT, Buffer.from('maintenance at 22:00\0'));
      // Written to the store within RETAINED_SYNC_MS: late subscribers on B read them there.
      for (const key of ['alerts$last', 'news$last']) {
        await waitFor(() => inside(a).router.retained.has(`CH:${key}`), 2000, `${key} retained on A`);
      }
      let stored = 0;
      await waitFor(
        () => {
          void Promise.all([run.stored(`${PREFIX}:r:CH:alerts$last`), run.stored(`${PREFIX}:r:CH:news$last`)]).then((both) => (stored = both.filter(Boolean).length));
          return stored === 2;
        },
        3000,
        'both written to the store',
        50,
      );
      const { device } = await devices.json(b.wsPort!, 'alerts$last,news$last');
      const replays = [await device.nextJson(), await device.nextJson()].sort((x, y) => String(x.tag).localeCompare(String(y.tag)));
      assert.deepEqual(replays, [
        { tag: 'alerts$last', from: pub.cid, type: 'TEXT', payload: 'EVACUATE NOW' },
        { tag: 'news$last', from: '', server: true, type: 'TEXT', payload: 'maintenance at 22:00' },
      ]);
    });

    it('a signal the server on A sends reaches a device on B with "server": true', async () => {
      const { device } = await devices.json(b.wsPort!, 'ops');
      await interestKnown('CH:ops', [a]);
      a.sendSignal('ops', PAYLOAD.TEXT, Buffer.from('from the dashboard\0'));
      assert.deepEqual(await device.nextJson(), { tag: 'ops', from: '', server: true, type: 'TEXT', payload: 'from the dashboard' });
    });

    it('a hostile message on the bus (10 000 levels deep, an extension type) is counted as malformed; B carries on', async () => {
      const { device } = await devices.json(b.wsPort!, 'calm');
      await interestKnown('CH:calm', [a]);
      const bus = clusterOf(b).node.bus;
      const before = bus.stats.malformed;
      const channel = bus.nodeChannel(bus.nodeId);
      await run.inject(channel, Buffer.concat([Buffer.alloc(10_000, 0x91), Buffer.from([0x90])]));
      await run.inject(channel, Buffer.from('93d4730190a14101', 'hex')); // [Set, "A", 1]: ext type 0x73
      await waitFor(() => bus.stats.malformed === before + 2, 3000, 'both counted as malformed');
      const pub = await pool.ready('cong', a.congPort!);
      pub.send(text('calm', 'still here'));
      assert.equal((await device.nextJson()).payload, 'still here');
    });
  });
}
