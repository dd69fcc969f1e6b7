// The `io` CLI against several servers at once and against the iosignal 2.2.1 reference server.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startReferenceServer, type ReferenceServer } from '../client/support.js';
import { io, lineList, script, stopAll } from './io-support.js';
import { startServer, urlOf } from '../kit/server.js';
import type { Transport } from '../kit/raw-client.js';

describe('io with several servers', () => {
  afterEach(stopAll);
  it('prefixes every line, targets name;commands, and survives losing one server', { timeout: 20_000 }, async () => {
    let a = await startServer();
    const b = await startServer();
    const aCong = a.congPort!;
    try {
      // a over CongSocket (restarted below on the same port), b over WebSocket.
      const run = io(['-c', `a=cong://127.0.0.1:${aCong}`, '-c', `b=${urlOf(b, 'ws')}`, '-j', 'room', '--stay']);
      await run.waitFor(/\[a\] ready: cid .*\n[\s\S]*\[b\] ready|\[b\] ready: cid .*\n[\s\S]*\[a\] ready/, 5000);
      run.send('a;.sig room only-a');
      run.send('b ;.sig room only-b');
      run.send('a,b;.sig room both');
      run.send('.echo done');
      await run.waitFor(/\[a\] echo: done\n[\s\S]*\[b\] echo: done|\[b\] echo: done\n[\s\S]*\[a\] echo: done/, 3000);
      const lines = lineList(run.out());
      for (const expected of ['[a] message: room only-a', '[b] message: room only-b', '[a] message: room both', '[b] message: room both']) {
        assert.ok(lines.includes(expected), `missing "${expected}" in:\n${run.out()}`);
      }
      assert.ok(!lines.includes('[b] message: room only-a') && !lines.includes('[a] message: room only-b'));
      run.send('c;.sig room x');

      await a.close();
      await run.waitFor(/\[a\] closed: .*reconnecting in \d+ ms/, 3000);
      run.send('b;.sig room still-here');
      await run.waitFor(/\[b\] message: room still-here/, 3000);

      a = await startServer({ congPort: aCong });
      await run.waitFor(/\[a\] ready: cid [^\n]*\n[\s\S]*\[a\] ready: cid /, 8000);
      run.send('.sig room again');
      await run.waitFor(/\[a\] message: room again/, 3000);
      await run.waitFor(/\[b\] message: room again/, 3000);
      assert.match(run.err(), /unknown connection "c" \(known: a, b\)/);
      run.send('.quit');
      assert.equal(await run.exited(3000), 0);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('io against the iosignal 2.2.1 reference server', () => {
  afterEach(stopAll);
  let reference: ReferenceServer;
  before(async () => {
    reference = await startReferenceServer();
  });
  after(() => reference.stop());

  for (const transport of ['ws', 'cong'] as Transport[]) {
    it(`scripted session (${transport})`, async () => {
      // The 2.2.1 server does not echo a publish back to its sender, so a second io watches the channel.
      const watcher = io(['-c', urlOf(reference, transport === 'ws' ? 'cong' : 'ws'), '-j', 'ref', '--stay']);
      await watcher.waitFor(/ready: cid/, 3000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const { code, out, err } = await script(['-c', urlOf(reference, transport)], ['.sig ref from-io 2', '.echo hi', '.iam', '.ping']);
      assert.equal(code, 0, err);
      assert.match(out, /ready: cid \?/);
      assert.match(out, /echo: hi/);
      assert.match(out, /iam: \{"ssid":\d+/);
      assert.match(out, /pong: \d+\.\d{3} ms/);
      await watcher.waitFor(/message: ref from-io 2/, 3000);
    });
  }

  it('io ping', async () => {
    const { code, out } = await script(['ping', '-c', urlOf(reference, 'cong'), '-n', '3'], []);
    assert.equal(code, 0);
    assert.match(out, /^echo \(server\)\s+3\s+0/m);
    assert.match(out, /^unicast \(broker\)\s+3\s+0/m);
  });
});

